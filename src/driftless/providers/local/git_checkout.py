"""local provider kind ``git_checkout``: a repository checked out at a ref.

I/O: the git CLI in child processes (``ls-remote``, ``init``, ``fetch``,
``checkout``), the checkout directory. The checkout is always a detached
HEAD at the resolved commit, so "moving the ref" — in the config, or
upstream for a branch — plans as an UPDATE naming both commits. A fresh
clone is built in a temp directory beside ``path`` and renamed into place,
so a failed clone leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess

from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import (
    Action,
    Change,
    FieldDiff,
    LiveResource,
    Resource,
    ResourceId,
    contains_unknown,
)
from driftless.providers.base import KindHandler, KindSpec, diff_properties
from driftless.providers.local._host import LOCAL, Host
from driftless.providers.local._paths import AbsPath
from driftless.providers.local.files import PathHandler

__all__ = ["HANDLERS", "resolve_ref"]

_SHA = re.compile(r"^[0-9a-f]{40}$")
GIT_TIMEOUT = 600.0


class GitCheckoutProps(BaseModel):
    """Properties of ``local:git_checkout``."""

    model_config = ConfigDict(extra="forbid")
    repo: str = Field(description="clone URL or local path of the repository")
    ref: str = Field("HEAD", description="branch, tag or full commit sha")
    path: AbsPath = Field(description="the checkout directory (absolute)")
    depth: int | None = Field(None, ge=1, description="shallow fetch depth")
    make_parents: bool = Field(False, description="create missing parent directories")


def _git(args: list[str], *, rid: ResourceId, cwd: str | None = None,
         check: bool = True, host: Host = LOCAL) -> subprocess.CompletedProcess[str]:
    # only transports that move data: ``ext::`` and ``fd::`` would let a repository
    # URL run a command, and ls-remote runs at plan time on untrusted input
    env = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
           "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh"}
    try:
        done = host.run(["git", *args], cwd=cwd, env=env, timeout=GIT_TIMEOUT)
    except FileNotFoundError:
        raise ProviderError("git is not installed", resource=rid,
                            hint="install git (apt-get install git)") from None
    if done.timed_out:
        raise ProviderError(f"git {args[0]} timed out after {GIT_TIMEOUT:g}s",
                            resource=rid, retryable=True)
    proc = subprocess.CompletedProcess(args, done.code, done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))
    if check and proc.returncode != 0:
        raise ProviderError(f"git {args[0]} failed: {_last(proc.stderr)}", resource=rid,
                            retryable=True)
    return proc


def _last(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].removeprefix("fatal: ").strip() if lines else "(no message)"


def resolve_ref(repo: str, ref: str, *, rid: ResourceId, host: Host = LOCAL) -> str | None:
    """The commit ``ref`` names in ``repo`` (``ls-remote``), or None for a bare sha.

    An unknown branch or tag is a ProviderError naming ref and repo.
    """
    if _SHA.match(ref):
        return ref
    proc = _git(["ls-remote", "--", repo, ref], rid=rid, check=False, host=host)
    if proc.returncode != 0:
        raise ProviderError(f"cannot reach repository {repo}: {_last(proc.stderr)}",
                            resource=rid, retryable=True, hint="check the URL and credentials")
    refs = dict(_ls_line(ln) for ln in proc.stdout.splitlines() if "\t" in ln)
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs:
            return refs[name]
    if re.match(r"^[0-9a-f]{7,39}$", ref):
        return None  # an abbreviated sha: only a fetch can tell
    raise ProviderError(f"unknown ref '{ref}' in repository {repo}", resource=rid,
                        hint="use an existing branch, tag or full commit sha")


def _ls_line(line: str) -> tuple[str, str]:
    sha, name = line.split("\t", 1)
    return name, sha


class GitCheckoutHandler(PathHandler):
    """``local:git_checkout``."""

    spec = KindSpec(
        name="git_checkout", schema=GitCheckoutProps,
        description="A git repository checked out (detached) at a branch, tag or commit.",
        replace_on=frozenset({"path"}), import_id="the checkout directory",
        attributes={"path": "the checkout directory", "repo": "the origin URL",
                    "commit": "the checked-out commit sha"},
    )

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """HEAD and origin of the checkout, or None when there is none."""
        path = resource.properties["path"]
        if not isinstance(path, str) or not self.host.isdir(os.path.join(path, ".git")):
            return None
        rid = resource.id
        head = _git(["rev-parse", "HEAD"], rid=rid, cwd=path, check=False, host=self.host)
        origin = _git(["config", "--get", "remote.origin.url"], rid=rid, cwd=path, check=False,
                      host=self.host)
        commit = head.stdout.strip() if head.returncode == 0 else None
        attrs = {"path": path, "repo": origin.stdout.strip() or None, "commit": commit}
        return LiveResource(rid, attrs, {"ref": (prior.private if prior else {}).get("ref")})

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Path and repo as usual; the commit by resolving the ref upstream."""
        props = desired.properties
        change = diff_properties(self.spec, desired, live,
                                 compare={"path": props["path"], "repo": props["repo"]})
        if live is None or contains_unknown(props):
            return change
        ref = str(props.get("ref", "HEAD"))
        wanted = resolve_ref(str(props["repo"]), ref, rid=desired.id, host=self.host)
        have = live.attributes.get("commit")
        if wanted is None or wanted == have:
            return change
        diff = FieldDiff("commit", have, wanted)
        action = Action.UPDATE if change.action is Action.NOOP else change.action
        reason = change.reason if change.diffs else f"ref '{ref}' is at {wanted[:12]}"
        return Change(desired.id, action, desired, live, (*change.diffs, diff), reason=reason)

    def create(self, change: Change) -> LiveResource:
        """Clone into a temp directory beside path, then rename it into place."""
        assert change.desired is not None
        props: GitCheckoutProps = self.parse(change.desired)
        rid = change.desired.id
        host = self.host
        host.ensure_parent(props.path, make_parents=props.make_parents, rid=rid)
        if host.lexists(props.path) and not _empty_dir(host, props.path):
            raise ProviderError(f"{props.path} exists and is not a git checkout", resource=rid,
                                hint="move it away, or choose another path")
        tmp = host.mkdtemp(prefix=f".{os.path.basename(props.path)}.",
                           dir=os.path.dirname(os.path.abspath(props.path)))
        try:
            _git(["init", "-q", tmp], rid=rid, host=host)
            _git(["remote", "add", "origin", props.repo], rid=rid, cwd=tmp, host=host)
            self._checkout(props, tmp, rid)
            if host.isdir(props.path):
                host.rmdir(props.path)
            host.rename(tmp, props.path)
        finally:
            with contextlib.suppress(OSError):
                host.rmtree(tmp)
        return self._live(change.desired, props)

    def update(self, change: Change) -> LiveResource:
        """Fetch the ref and check it out (re-clone when the origin changed)."""
        assert change.desired is not None
        props: GitCheckoutProps = self.parse(change.desired)
        if change.prior is None or any(d.path == "repo" for d in change.diffs):
            if change.prior is not None:
                self.delete(change.prior)
            return self.create(change)
        self._checkout(props, props.path, change.desired.id)
        return self._live(change.desired, props)

    def _checkout(self, props: GitCheckoutProps, where: str, rid: ResourceId) -> None:
        depth = [f"--depth={props.depth}"] if props.depth else []
        fetch = _git(["fetch", "-q", *depth, "origin", props.ref], rid=rid, cwd=where,
                     check=False, host=self.host)
        if fetch.returncode != 0:
            msg = _last(fetch.stderr)
            if "couldn't find remote ref" in msg or "not our ref" in msg or "bad object" in msg:
                raise ProviderError(f"unknown ref '{props.ref}' in repository {props.repo}",
                                    resource=rid,
                                    hint="use an existing branch, tag or full commit sha")
            raise ProviderError(f"cannot fetch {props.repo}: {msg}", resource=rid,
                                retryable=True, hint="check the URL and credentials")
        _git(["checkout", "-q", "--force", "--detach", "FETCH_HEAD"], rid=rid, cwd=where,
             host=self.host)

    def _live(self, desired: Resource, props: GitCheckoutProps) -> LiveResource:
        live = self.read(desired, None)
        if live is None:
            raise ProviderError(f"checkout at {props.path} vanished", resource=desired.id)
        return LiveResource(live.id, live.attributes, {"ref": props.ref})

    def delete(self, prior: LiveResource) -> None:
        """Remove the checkout — only if it still is a git checkout."""
        path = str(prior.attributes.get("path"))
        if self.host.isdir(os.path.join(path, ".git")):
            self.host.rmtree(path)


def _empty_dir(host: Host, path: str) -> bool:
    return host.isdir(path) and not host.listdir(path)


HANDLERS: dict[str, KindHandler] = {"git_checkout": GitCheckoutHandler()}
