"""local provider kinds ``file``, ``directory`` and ``symlink``.

I/O: the local filesystem (lstat, read, atomic write, chmod/chown, unlink).
The no-op path is hot — a plan of 10,000 files — so ``read`` and ``diff``
work on the raw properties (the engine validated them against the schema
already) and ``read`` trusts the (size, mtime_ns, ctime_ns, inode) fingerprint
kept in ``private`` instead of hashing, like git's index (``_fingerprint``,
racily clean records included). ``ContentFileHandler`` is
shared with ``template``, ``env_file`` and ``download``. The ``directory``
and ``symlink`` handlers and the path-kind base live in ``files_paths``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from stat import S_IFREG
from typing import Any, ClassVar

from driftless.errors import DriftlessError, ProviderError
from driftless.model import (
    Action,
    Change,
    FieldDiff,
    LiveResource,
    Resource,
    ResourceId,
    Sensitive,
    Unknown,
    contains_unknown,
)
from driftless.providers.base import KindHandler
from driftless.providers.local._atomic import (
    content_digest,
    file_digest,
    fingerprint,
    format_mode,
    kind_of,
    lstat_or_none,
    os_error,
    parse_mode,
    quick_diff,
    trusted_digest,
    wanted_owner,
)
from driftless.providers.local._fingerprint import racy, stat_matches
from driftless.providers.local._host import LOCAL, StatLike
from driftless.providers.local._source import resolved_source
from driftless.providers.local.files_paths import (
    MODE_PATTERN,
    SCHEMAS,
    DirectoryHandler,
    PathHandler,
    SymlinkHandler,
    norm_mode,
    path_spec,
)

__all__ = [
    "HANDLERS", "MODE_PATTERN", "NOTHING_WHEN_MISSING", "ContentFileHandler", "PathHandler",
    "lstat_or_none", "quick_diff",
]


OFFLOAD_MOST = 1 << 20
"""A larger file is written in line by a large apply, not copied to the writer process."""


class FileWrite:
    """One file write of a content kind, prepared: path, bytes, mode, owner, whether
    to make the parent, and whether the bytes' digest is a plain sha256 (``plain``:
    the content is no secret, whose digest is keyed). ``create`` writes it here; a
    large apply may hand it to the writer process (``offload``), which then answers
    that digest too. A plain class: one is made per file written."""

    __slots__ = ("data", "make_parents", "mode", "owner", "path", "plain")

    def __init__(self, path: str, data: bytes, mode: int, owner: tuple[int, int] | None,
                 make_parents: bool, *, plain: bool = False) -> None:
        self.path, self.data, self.mode = path, data, mode
        self.owner, self.make_parents, self.plain = owner, make_parents, plain


_MODES = {S_IFREG | bits: f"{bits:04o}" for bits in (0o600, 0o640, 0o644, 0o664, 0o700, 0o750,
                                                      0o755, 0o775, 0o400, 0o440, 0o444)}
"""``format_mode`` of the regular file modes most files have, looked up."""

_TEXT_DIFF_MAX = 64 * 1024
"""Larger files diff by digest only: a plan is read by people, and held in memory."""


class ContentFileHandler(PathHandler):
    """A regular file whose bytes come from the desired properties.

    Subclasses say how to compute the bytes (``render``), whether they are
    secret (``keyed``) and, cheaply, their digest (``wanted_digest``).
    """

    default_mode: ClassVar[int] = 0o644
    shows_text: ClassVar[bool] = False  # a changed small text file diffs as text
    stat_clean: ClassVar[bool] = False  # the bytes follow from the properties alone
    offloads: ClassVar[bool] = False  # a large apply's writes may go to the writer process

    def keyed(self, props: Mapping[str, Any]) -> bool:
        """Whether the content is secret, so digests must be keyed."""
        return isinstance(props.get("content"), Sensitive)

    def wanted_digest(self, props: Mapping[str, Any], rid: ResourceId) -> Any:
        """The desired content's digest (None: content not managed)."""
        raise NotImplementedError

    def render(self, props: Any, rid: ResourceId) -> bytes:
        """The desired bytes, from the validated properties."""
        raise NotImplementedError

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """Stat the path; hash only when the recorded fingerprint moved."""
        props = resource.properties
        path = props["path"]
        st = self.host.lstat_or_none(path, resource.id)
        if st is None:
            return None
        keyed = self.keyed(props)
        if prior is not None and _unchanged(prior, st, path, keyed, props):
            return prior
        return self.observe(resource.id, path, st, keyed=keyed, props=props, prior=prior)

    def unchanged_since(self, resource: Resource, prior: LiveResource) -> bool:
        """``read``'s own shortcut, nothing else: one lstat matching the recorded
        fingerprint (not racily clean), mode, owner and path. Only for kinds whose
        bytes come from the properties alone (``stat_clean``), with no ``source``
        file read at plan time, on this machine (a remote host stats in batches)."""
        if not self.stat_clean or self.host is not LOCAL:
            return False
        return self._stat_clean(resource.properties, prior)

    def unchanged_each(self, pairs: Sequence[tuple[Resource, LiveResource]]) -> list[bool]:
        """``unchanged_since`` of each pair, in one loop (a repeated no-op plan, and the
        settled resources of a plan with a few changes): an lstat that fails means
        "cannot tell", left to the full plan."""
        if not self.stat_clean or self.host is not LOCAL:
            return [False] * len(pairs)
        check = self._stat_clean
        return [check(res.properties, prior) for res, prior in pairs]

    def _stat_clean(self, props: Mapping[str, Any], prior: LiveResource) -> bool:
        """One lstat matching ``prior``'s record, for properties without a file read
        at plan time; an lstat that fails means "cannot tell" (the full read reports
        what is wrong)."""
        path = props.get("path")
        if not isinstance(path, str):
            return False
        for name in self.spec.read_fields:
            if props.get(name) is not None:
                return False
        try:
            st = os.lstat(path)
        except (OSError, ValueError):
            return False
        return _unchanged(prior, st, path, self.keyed(props), props)

    def observe(self, rid: ResourceId, path: str, st: StatLike, *, keyed: bool,
                props: Mapping[str, Any], prior: LiveResource | None) -> LiveResource:
        """The live view of ``path`` after a stat (hashing only if needed)."""
        seen = time.time_ns()  # before hashing: a record errs towards racily clean
        kind = kind_of(st)
        digest = None
        if kind == "file":
            digest = trusted_digest(prior.private if prior else None, st, keyed=keyed)
            if digest is None:
                digest = self._hash(path, rid, keyed)
        return self._view(rid, path, st, kind=kind, digest=digest, keyed=keyed, seen=seen,
                          props=props)

    def _view(self, rid: ResourceId, path: str, st: StatLike, *, kind: str,
              digest: str | None, keyed: bool, seen: int,
              props: Mapping[str, Any]) -> LiveResource:
        """The live view from a stat and the content's digest (None: not a file);
        ``seen`` is when the record is taken (see ``fingerprint``)."""
        mode = st.st_mode
        attrs = {"path": path, "type": kind, "sha256": digest,
                 "mode": _MODES.get(mode) or format_mode(mode), "size": st.st_size}
        if props.get("owner") is not None or props.get("group") is not None:
            attrs.update(self.host.owner_attrs(props, st))  # (neither: nothing to add)
        private = fingerprint(st, digest, keyed=keyed, seen_ns=seen) if digest else {}
        private["st_mode"], private["uid"], private["gid"] = mode, st.st_uid, st.st_gid
        return LiveResource(rid, attrs, private)

    def landed_many(self, items: Sequence[tuple[Change, FileWrite, StatLike, str | None]],
                    ) -> list[LiveResource | Exception]:
        """``landed`` of each file of a writer's batch, in order (the exception it
        raised in place of a view that could not be made), with one clock reading
        for the batch: taken after every stat in it, as ``landed``'s own is."""
        seen = time.time_ns()
        out: list[LiveResource | Exception] = []
        for change, write, st, digest in items:
            try:
                out.append(self.landed(change, write, st, digest, seen=seen))
            except Exception as exc:  # that change fails; the batch goes on
                out.append(exc)
        return out

    def _hash(self, path: str, rid: ResourceId, keyed: bool) -> str:
        try:
            return self.host.file_digest(path, keyed=keyed)
        except OSError as exc:
            raise os_error(exc, path=path, rid=rid, doing="read") from None

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Compare path, type, content digest, mode and owner without pydantic."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, reason="does not exist yet")
        props = desired.properties
        wanted: dict[str, Any] = {"path": props["path"], "type": "file"}
        digest = self.wanted_digest(props, desired.id)
        if digest is not None:
            wanted["sha256"] = digest
        if props.get("mode") is not None:
            wanted["mode"] = norm_mode(props["mode"])
        wanted.update(wanted_owner(props))
        secret = frozenset({"sha256"}) if self.keyed(props) else frozenset()
        change = quick_diff(desired, live, wanted, replace_on=self.spec.replace_on,
                            sensitive=secret)
        if change.action is Action.UPDATE and self.shows_text and not secret:
            return self._as_text(change, desired)
        return change

    def _as_text(self, change: Change, desired: Resource) -> Change:
        """Replace the digest diff with the old and new text, so a plan (and the
        agent's history) can show a unified diff. Only for small UTF-8 files whose
        new bytes render without error; anything else keeps the digests."""
        digest = next((d for d in change.diffs if d.path == "sha256"), None)
        if digest is None or not isinstance(desired.properties.get("content", ""), str):
            return change
        try:
            new = self.render(self.parse(desired), desired.id)
            old = self.host.read_bytes(desired.properties["path"], limit=_TEXT_DIFF_MAX + 1)
            texts = [b.decode() for b in (old, new) if len(b) <= _TEXT_DIFF_MAX and b"\0" not in b]
        except (OSError, ValueError, DriftlessError):
            return change
        if len(texts) != 2:
            return change
        text = FieldDiff("content", texts[0], texts[1])
        return replace(change, diffs=tuple(text if d is digest else d for d in change.diffs))

    def create(self, change: Change) -> LiveResource:
        """Render and write the file atomically."""
        write = self._prepared(change)
        return self.landed(change, write, self._write(write, rid=change.id))

    def _prepared(self, change: Change) -> FileWrite:
        """The write ``change`` makes: its path, rendered bytes, mode and owner."""
        assert change.desired is not None
        rid = change.desired.id
        props = self.parse(change.desired)
        user, group = getattr(props, "owner", None), getattr(props, "group", None)
        owner = None if user is None and group is None else self.host.owner_ids(user, group,
                                                                                 rid)
        mode = self.default_mode if props.mode is None else parse_mode(props.mode,
                                                                        default=0)
        return FileWrite(props.path, self.render(props, rid), mode, owner,
                         bool(props.make_parents),
                         plain=not self.keyed(change.desired.properties))

    def landed(self, change: Change, write: FileWrite, st: StatLike,
               digest: str | None = None, *, seen: int | None = None) -> LiveResource:
        """The live view once ``write`` is written, here or by the writer process
        (``digest``: the plain sha256 of its bytes the writer worked out, if any;
        ``seen``: when the record is taken, now if not given)."""
        assert change.desired is not None
        props = change.desired.properties
        return self._written(change.id, write.path, st, write.data, keyed=self.keyed(props),
                             props=props, digest=digest, seen=seen)

    def _written(self, rid: ResourceId, path: str, st: StatLike, data: bytes, *, keyed: bool,
                 props: Mapping[str, Any], digest: str | None = None,
                 seen: int | None = None) -> LiveResource:
        """The live view of a file just written from ``data``: what ``observe`` gives
        with a record of the bytes written as the prior, built directly (a 10,000-file
        apply made each view twice), unless a kind adds to ``observe`` or the record
        is racily clean (the backdated write prevents that, except on a file system keeping
        whole seconds: then ``observe`` hashes the file, as it always did)."""
        seen = time.time_ns() if seen is None else seen
        if digest is None or keyed:  # a secret's digest is keyed: only made here
            digest = content_digest(data, keyed=keyed)
        if (type(self).observe is not ContentFileHandler.observe
                or racy(st.st_mtime_ns, seen) or kind_of(st) != "file"):
            prior = LiveResource(rid, {}, fingerprint(st, digest, keyed=keyed, seen_ns=seen))
            return self.observe(rid, path, st, keyed=keyed, props=props, prior=prior)
        return self._view(rid, path, st, kind="file", digest=digest, keyed=keyed, seen=seen,
                          props=props)

    def _write(self, write: FileWrite, *, rid: ResourceId) -> StatLike:
        """Write, and look at the parent directory only when that failed: the
        parent is there for all but the first file of a directory, and a stat
        per file to check it was a tenth of a 10,000-file apply."""
        try:
            return self.host.write_atomic(write.path, write.data, mode=write.mode, rid=rid,
                                          owner=write.owner)
        except ProviderError:
            # the parent's own error when it is missing (made first when asked);
            # else the write fails again with its error
            self.host.ensure_parent(write.path, make_parents=write.make_parents, rid=rid)
            return self.host.write_atomic(write.path, write.data, mode=write.mode, rid=rid,
                                          owner=write.owner)

    def update(self, change: Change) -> LiveResource:
        """Rewrite the file (atomically) — unless only mode/owner moved."""
        assert change.desired is not None
        if _rewrites(change):
            return self.create(change)
        assert change.prior is not None
        return self._chmod_only(change.desired, change.prior)

    def offload(self, change: Change) -> FileWrite | None:
        """The write ``create`` (or a rewriting ``update``) makes, for the writer process
        of a large apply (``offload``); None when the change is not just that write, the
        file is large, or this kind writes in line (``offloads``)."""
        if not self.offloads or self.host is not LOCAL or change.desired is None:
            return None
        if not (change.action is Action.CREATE or (change.action is Action.UPDATE
                                                   and _rewrites(change))):
            return None
        write = self._prepared(change)
        return write if len(write.data) <= OFFLOAD_MOST else None

    def make_parent(self, change: Change, write: FileWrite) -> None:
        """The directory of an offloaded write, made when asked, else a clear error
        (what an inline write does once its first attempt fails)."""
        self.host.ensure_parent(write.path, make_parents=write.make_parents, rid=change.id)

    def _chmod_only(self, desired: Resource, prior: LiveResource) -> LiveResource:
        props = self.parse(desired)
        rid = desired.id
        try:
            self.host.chmod(props.path, parse_mode(props.mode, default=self.default_mode))
            owner = self.host.owner_ids(getattr(props, "owner", None),
                                        getattr(props, "group", None), rid)
            if owner is not None:
                self.host.chown(props.path, owner[0], owner[1])
        except OSError as exc:
            raise os_error(exc, path=props.path, rid=rid, doing="change mode of") from None
        st = self.host.lstat(props.path)
        return self.observe(rid, props.path, st, keyed=self.keyed(desired.properties),
                            props=desired.properties, prior=prior)

    def delete(self, prior: LiveResource) -> None:
        """Remove the file; gone already is fine."""
        path = str(prior.attributes.get("path"))
        try:
            self.host.remove_quietly(path)
        except IsADirectoryError:
            return  # something else replaced it with a directory: not ours
        except OSError as exc:
            raise os_error(exc, path=path, rid=prior.id, doing="delete") from None


def _rewrites(change: Change) -> bool:
    """Whether an update writes the file again (its content moved, or nothing is
    known of it), rather than only changing its mode or owner."""
    if change.prior is None or not change.diffs:
        return True
    return any(d.path not in ("mode", "owner", "group") for d in change.diffs)


def _unchanged(prior: LiveResource, st: StatLike, path: str, keyed: bool,
               props: Mapping[str, Any]) -> bool:
    """Whether the prior view still holds: same fingerprint (not racily clean), mode,
    owner, path."""
    p = prior.private
    if not (p.get("st_mode") == st.st_mode and p.get("uid") == st.st_uid
            and p.get("gid") == st.st_gid and p.get("keyed") == keyed
            and stat_matches(p, st)):
        return False
    attrs = prior.attributes
    return (attrs.get("path") == path
            and ("owner" in attrs) == (props.get("owner") is not None)
            and ("group" in attrs) == (props.get("group") is not None))


class FileHandler(ContentFileHandler):
    """``local:file``: content or a copied source, mode, owner."""

    shows_text = True
    stat_clean = True
    offloads = True

    spec = path_spec(
        "file", f"{SCHEMAS}:FileProps",
        "A regular file with the given content (or a copy of source) and mode.",
        what="file",
        attributes={"type": "what is at the path (file, directory, ...)",
                    "sha256": "sha256 of the bytes (an hmac digest when content is sensitive)",
                    "mode": "permission bits, e.g. 0644", "size": "size in bytes"},
        read_fields=frozenset({"source"}),
    )

    def wanted_digest(self, props: Mapping[str, Any], rid: ResourceId) -> Any:
        """Digest of content, of the source file's bytes, or None (unmanaged)."""
        content = props.get("content")
        if isinstance(content, Sensitive):
            return content.digest()
        if isinstance(content, str):
            return content_digest(content.encode(), keyed=False)
        if content is not None and contains_unknown(content):
            return content
        source = props.get("source")
        if isinstance(source, Unknown) or source is None:
            return source
        source = resolved_source(source, rid=rid)
        try:
            return file_digest(source, keyed=False)
        except OSError as exc:
            raise os_error(exc, path=source, rid=rid, doing="read source") from None

    def render(self, props: Any, rid: ResourceId) -> bytes:
        """The bytes to write."""
        if props.content is not None:
            return str(props.content).encode()
        if props.source is None:
            return b""
        source = resolved_source(props.source, rid=rid)
        try:
            with open(source, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise os_error(exc, path=props.source, rid=rid, doing="read source") from None


NOTHING_WHEN_MISSING: frozenset[Any] = frozenset({
    ContentFileHandler.read, DirectoryHandler.read, SymlinkHandler.read})
"""The kinds' ``read`` functions that find nothing exactly when the ``lstat`` of the
resource's ``path`` finds nothing (``local.absent``); a kind that overrides
``read`` is not among them until it is added here."""

HANDLERS: dict[str, KindHandler] = {
    "file": FileHandler(),
    "directory": DirectoryHandler(),
    "symlink": SymlinkHandler(),
}
