"""Git sources: resolve a ref, fetch it into a cache, export the tree.

A ``GitSource`` owns one directory: a bare repository (``repo.git``) that
accumulates fetched objects, and one exported tree per revision
(``<full sha>/``) of which the most recently used few are kept. A poll asks
the server for its refs first (``git ls-remote``); when the resolved commit
is already cached nothing is downloaded, so an idle poll is one round trip.
Fetches are shallow (``--depth 1``) except when a short commit id has to be
found in history.

Failures: an unreachable server or refused credentials raise ``SourceError``
(the agent retries with backoff); a ref, range, commit or path that does not
exist raises ``ConfigError`` (stalled until the spec or the remote changes).
Every message names the URL with credentials redacted, and the ref.

I/O: runs git, writes under ``cache_dir`` only, takes an advisory lock file
there so two processes sharing a cache do not fetch at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath

from driftless.errors import ConfigError, SourceError
from driftless.records import record
from driftless.source.gitcmd import GitFailed, GitRunner, credentials_for, redact_url
from driftless.source.semver import is_range, newest_in_range

__all__ = ["GitSource", "Source", "SourceSpec"]

_HEX = re.compile(r"[0-9a-f]{7,40}")
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
_ALL_REFS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


@record
class SourceSpec:
    """Where the desired state lives: a Git URL, a ref and a path inside it.

    ``ref`` is a branch, a tag, a full or short commit id, or a semver range
    such as ``">=1.16.0 <1.19.0"`` over tags ``vX.Y.Z`` / ``X.Y.Z``.
    """

    url: str
    ref: str = "main"
    path: str = "."
    credentials_file: str | None = None
    name: str = "default"

    @property
    def display_url(self) -> str:
        """The URL with any ``user:password@`` replaced, safe to print."""
        return redact_url(self.url)


@record
class Source:
    """One fetched revision: the tree on disk and how the ref resolved."""

    spec: SourceSpec
    revision: str
    path: Path
    digest: str
    ref_resolved: str

    @property
    def short(self) -> str:
        return self.revision[:7]


@record
class _Target:
    """A ref resolved against the remote: a ref name to fetch and/or a commit."""

    refname: str | None
    sha: str | None
    wanted: str


class GitSource:
    """Fetch, resolve and export one ``SourceSpec`` into ``cache_dir``."""

    def __init__(
        self,
        spec: SourceSpec,
        *,
        cache_dir: Path,
        keep: int = 3,
        timeout: float = 300.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.cache_dir = Path(cache_dir)
        self.keep = max(1, keep)
        self._subpath = _checked_subpath(spec)
        self._url, header, secret = credentials_for(
            spec.url,
            credentials_file=spec.credentials_file,
            environ=os.environ if environ is None else environ,
        )
        self._git = GitRunner(
            git_dir=self.cache_dir / "repo.git",
            display_url=spec.display_url,
            auth_header=header,
            timeout=timeout,
            secrets=(secret,) if secret is not None else (),
        )

    # -- public API -------------------------------------------------------

    def fetch(self) -> Source:
        """Resolve ``spec.ref`` on the remote, fetch it if needed, export its tree."""
        with self._locked():
            target = self._resolve(self._remote_refs())
            revision = self._ensure_commit(target)
            return self._export(revision, target.refname or revision)

    def checkout(self, revision: str) -> Source:
        """Export a pinned revision (rollback), fetching it if it is not cached."""
        with self._locked():
            full = self._ensure_commit(_pinned(revision))
            return self._export(full, full)

    def changed_paths(self, old_rev: str, new_rev: str) -> list[str]:
        """Files changed between two revisions, relative to ``spec.path``."""
        prefix = "" if self._subpath == "." else self._subpath + "/"
        diff = ("diff", "--name-only", "-z", "--no-renames")
        try:  # both are usually in the cache already: one git call, not three
            out = self._git.run(*diff, old_rev, new_rev, "--", self._subpath)
            return [p[len(prefix) :] for p in out.split("\0") if p]
        except GitFailed:
            pass
        with self._locked():
            old_rev, new_rev = (self._ensure_commit(_pinned(rev)) for rev in (old_rev, new_rev))
        try:
            out = self._git.run(*diff, old_rev, new_rev, "--", self._subpath)
        except GitFailed as exc:
            raise SourceError(
                f"cannot compare {old_rev[:7]}..{new_rev[:7]} of {self.spec.display_url}: "
                f"{_last_line(exc.stderr)}",
                hint="both revisions must be commits of this source",
            ) from None
        return [p[len(prefix) :] for p in out.split("\0") if p]

    def describe(self, rev: str) -> str:
        """``a1b2c3d subject line`` for messages; the short id alone if unknown."""
        try:
            return self._git.run("log", "-1", "--format=%h %s", rev, "--").strip()
        except GitFailed:
            return rev[:7]

    # -- remote -----------------------------------------------------------

    def _where(self) -> str:
        return f"{self.spec.display_url} (ref '{self.spec.ref}')"

    def _network_error(self, exc: GitFailed) -> SourceError:
        detail = _last_line(exc.stderr)
        lowered = exc.stderr.lower()
        if any(s in lowered for s in ("authentication", "401", "403", "username")):
            hint = "check the token in DRIFTLESS_GIT_TOKEN or the source's credentials_file"
        elif any(s in lowered for s in ("not found", "404", "does not appear")):
            hint = "check the source URL; the repository may be missing or private"
        else:
            hint = "the server may be down; driftless retries with backoff"
        return SourceError(f"cannot fetch {self._where()}: {detail}", hint=hint)

    def _remote_refs(self) -> dict[str, str]:
        """``refname → commit`` as the server advertises them (tags peeled)."""
        try:
            out = self._git.run("ls-remote", self._url)
        except GitFailed as exc:
            raise self._network_error(exc) from None
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if name.endswith("^{}"):
                refs[name[:-3]] = sha  # the commit an annotated tag points at
            else:
                refs.setdefault(name, sha)
        return refs

    def _resolve(self, refs: Mapping[str, str]) -> _Target:
        ref = self.spec.ref.strip()
        if is_range(ref):
            return self._resolve_range(ref, refs)
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if name in refs and (name.startswith("refs/") or name == "HEAD"):
                return _Target(name, refs[name], ref)
        if _HEX.fullmatch(ref):
            return _Target(None, ref if len(ref) == 40 else None, ref)
        branches = sorted(
            n.removeprefix("refs/heads/") for n in refs if n.startswith("refs/heads/")
        )
        raise ConfigError(
            f"ref '{ref}' not found in {self.spec.display_url}: "
            "no branch, tag or commit by that name",
            hint=f"branches there: {', '.join(branches[:8]) or '(none)'}; fix the source's ref",
        )

    def _resolve_range(self, ref: str, refs: Mapping[str, str]) -> _Target:
        tags = {
            n.removeprefix("refs/tags/"): sha
            for n, sha in refs.items()
            if n.startswith("refs/tags/")
        }
        try:
            tag = newest_in_range(tags, ref)
        except ValueError as exc:
            raise ConfigError(
                f"ref '{ref}' of source '{self.spec.name}' is not a valid version range: {exc}",
                hint="write a range like '>=1.16.0 <1.19.0', '~1.4' or '^2'",
            ) from None
        if tag is None:
            raise ConfigError(
                f"no tag of {self.spec.display_url} matches version range '{ref}'",
                hint="push a tag vX.Y.Z inside the range, or widen the range",
            )
        return _Target(f"refs/tags/{tag}", tags[tag], ref)

    # -- cache ------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with open(self.cache_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if not (self.cache_dir / "repo.git" / "HEAD").exists():
                    self._git.run("init", "-q", "--bare")
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _has_commit(self, rev: str) -> str | None:
        try:
            return self._git.run("rev-parse", "--verify", "-q", f"{rev}^{{commit}}").strip()
        except GitFailed:
            return None

    def _fetch(self, *refspecs: str, depth: bool = True) -> None:
        shallow = (self.cache_dir / "repo.git" / "shallow").exists()
        opts = ["--depth", "1"] if depth else (["--unshallow"] if shallow else [])
        try:
            self._git.run("fetch", "-q", "--no-tags", *opts, self._url, *refspecs)
        except GitFailed as exc:
            raise self._network_error(exc) from None

    def _ensure_commit(self, target: _Target) -> str:
        """Make the target's commit present in the cache; return its full id."""
        if target.sha and (have := self._has_commit(target.sha)):
            return have
        if target.refname:
            self._fetch(f"+{target.refname}:{target.refname}")
            return self._has_commit(target.refname) or self._missing(target)
        if target.sha:
            # Servers usually allow fetching a reachable commit by id; if not, search history.
            with suppress(GitFailed):
                self._git.run("fetch", "-q", "--no-tags", "--depth", "1", self._url, target.sha)
            if have := self._has_commit(target.sha):
                return have
        self._fetch(*_ALL_REFS, depth=False)  # a short id needs history to search
        return self._has_commit(target.wanted) or self._missing(target)

    def _missing(self, target: _Target) -> str:
        raise ConfigError(
            f"commit '{target.wanted}' not found in {self.spec.display_url}",
            hint="use a commit that is reachable from a branch or tag on the server",
        )

    def _export(self, revision: str, ref_resolved: str) -> Source:
        digest = self._tree_id(revision)
        target = self.cache_dir / revision
        if not target.is_dir():
            self._write_tree(revision, target)
        os.utime(target)  # most recently used: kept by _prune
        self._prune(keep_also=target)
        return Source(self.spec, revision, target / self._subpath, digest, ref_resolved)

    def _tree_id(self, revision: str) -> str:
        spec = f"{revision}^{{tree}}" if self._subpath == "." else f"{revision}:{self._subpath}"
        try:
            return self._git.run("rev-parse", "--verify", "-q", spec).strip()
        except GitFailed:
            raise ConfigError(
                f"path '{self.spec.path}' does not exist in {self.spec.display_url} at "
                f"{revision[:7]} (ref '{self.spec.ref}')",
                hint="fix the source's path, or commit the directory",
            ) from None

    def _write_tree(self, revision: str, target: Path) -> None:
        """Export into a temporary directory, then rename: readers never see half a tree."""
        tmp = self.cache_dir / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        index = self.cache_dir / f".index-{uuid.uuid4().hex}"
        try:
            self._git.run_with(
                {"GIT_INDEX_FILE": str(index), "GIT_WORK_TREE": str(tmp)},
                "read-tree",
                "-u",
                "--reset",
                revision,
            )
            tmp.rename(target)
        finally:
            index.unlink(missing_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)

    def _prune(self, *, keep_also: Path) -> None:
        trees = [p for p in self.cache_dir.iterdir() if _FULL_SHA.fullmatch(p.name) and p.is_dir()]
        trees.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in trees[self.keep :]:
            if old != keep_also:
                shutil.rmtree(old, ignore_errors=True)


def _pinned(revision: str) -> _Target:
    """A target for a commit id given by the user or read back from history."""
    return _Target(None, revision if _FULL_SHA.fullmatch(revision) else None, revision)


def _checked_subpath(spec: SourceSpec) -> str:
    """``spec.path`` normalised; refuses absolute paths and ``..``."""
    pure = PurePosixPath(spec.path.strip() or ".")
    if pure.is_absolute() or ".." in pure.parts:
        raise ConfigError(
            f"source '{spec.name}' path '{spec.path}' must be relative "
            "and stay inside the repository",
            hint="write the directory relative to the repository root, e.g. 'stacks/app'",
        )
    return str(pure)


def _last_line(stderr: str) -> str:
    """The line of git's stderr that says what went wrong (not the advice after it)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if any("could not read username" in ln.lower() for ln in lines):
        return "the server wants credentials and none (or wrong ones) were given"
    telling = [ln for ln in lines if ln.lower().startswith(("fatal:", "error:", "ssh:"))]
    return (telling or lines or ["git failed without a message"])[0]
