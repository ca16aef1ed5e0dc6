"""A working clone of the hand-off repository, driven by the ``git`` command.

One clone per (repository, branch, environment, app) under the cache
directory, so resources that commit to the same branch never share a work
tree; a push that loses a race is rebased and tried again (their paths do
not overlap). I/O: runs git, reads and writes the clone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from driftless.errors import ProviderError
from driftless.model import ResourceId

__all__ = ["Clone", "cache_root"]

_TIMEOUT = 120.0
_PUSH_TRIES = 5
_PROTOCOLS = "file:http:https:ssh:git"  # never ext:: (it runs a command)


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/driftless/k8s`` (``~/.cache/driftless/k8s``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "driftless" / "k8s"


class Clone:
    """The work tree of one resource's hand-off."""

    def __init__(self, rid: ResourceId, repo: str, branch: str, key: str,
                 *, root: Path | None = None) -> None:
        self.rid, self.repo, self.branch = rid, repo, branch
        name = hashlib.sha256(f"{repo}\0{branch}\0{key}".encode()).hexdigest()[:20]
        self.path = (root or cache_root()) / name

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run git in the clone with a fixed identity."""
        env = {**os.environ, "GIT_ALLOW_PROTOCOL": _PROTOCOLS, "GIT_TERMINAL_PROMPT": "0"}
        ident = ["-c", "user.name=driftless", "-c", "user.email=driftless@localhost",
                 "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"]
        try:
            proc = subprocess.run(["git", *ident, *args], cwd=self.path, env=env, text=True,
                                  capture_output=True, timeout=_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ProviderError(f"git {args[0]} timed out on {self.repo}", resource=self.rid,
                                retryable=True) from None
        if check and proc.returncode != 0:
            raise ProviderError(f"git {args[0]} failed on {self.repo} ({self.branch}): "
                                f"{proc.stderr.strip()[-500:]}", resource=self.rid,
                                retryable=args[0] in ("fetch", "push"))
        return proc

    def sync(self) -> None:
        """Make the work tree exactly the remote branch (empty when it does not exist)."""
        if not (self.path / ".git").is_dir():
            self._fresh()
        self.git("remote", "set-url", "origin", self.repo)
        fetched = self.git("fetch", "-q", "origin",
                           f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}",
                           check=False)
        if fetched.returncode != 0:
            if "couldn't find remote ref" not in fetched.stderr:
                raise ProviderError(f"cannot fetch {self.repo}: {fetched.stderr.strip()[-500:]}",
                                    resource=self.rid, retryable=True)
            self._fresh()  # the branch does not exist yet: start it from nothing
            return
        self.git("checkout", "-q", "-B", self.branch, f"origin/{self.branch}")
        self.git("reset", "-q", "--hard", f"origin/{self.branch}")
        self.git("clean", "-q", "-f", "-d", "-x")

    def _fresh(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, mode=0o700)
        self.git("init", "-q", "-b", self.branch)
        self.git("remote", "add", "origin", self.repo)

    def files_under(self, prefixes: Iterable[str]) -> dict[str, str]:
        """Relative path -> text of every file under the given directories/files."""
        out: dict[str, str] = {}
        for prefix in prefixes:
            target = self.path / prefix
            found = [target] if target.is_file() else sorted(
                p for p in target.rglob("*") if p.is_file()) if target.is_dir() else []
            for path in found:
                out[path.relative_to(self.path).as_posix()] = path.read_text("utf-8")
        return out

    def last_commit(self, paths: Iterable[str]) -> str:
        """The newest commit touching ``paths`` ('' when none)."""
        if self.git("rev-parse", "-q", "--verify", "HEAD", check=False).returncode != 0:
            return ""
        return self.git("log", "-1", "--format=%H", "--", *paths).stdout.strip()

    def commit_and_push(self, message: str) -> bool:
        """Stage the work tree (only this resource writes in it: ``sync`` left it clean);
        commit and push if anything changed."""
        self.git("add", "-A")
        if self.git("diff", "--cached", "--quiet", check=False).returncode == 0:
            return False
        self.git("commit", "-q", "-m", message)
        for _ in range(_PUSH_TRIES):
            pushed = self.git("push", "-q", "origin", f"HEAD:refs/heads/{self.branch}",
                              check=False)
            if pushed.returncode == 0:
                self.git("update-ref", f"refs/remotes/origin/{self.branch}", "HEAD")
                return True
            self.git("fetch", "-q", "origin",
                     f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}")
            self.git("rebase", "-q", f"origin/{self.branch}")
        raise ProviderError(f"cannot push to {self.repo} ({self.branch}) after "
                            f"{_PUSH_TRIES} tries: {pushed.stderr.strip()[-500:]}",
                            resource=self.rid, retryable=True)
