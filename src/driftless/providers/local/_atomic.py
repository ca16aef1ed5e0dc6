"""Atomic file writes, cheap file fingerprints and shared helpers for local kinds.

Every local kind that writes a file goes through ``write_atomic``: a temp
file in the same directory, chmod (fsync when asked), then ``os.replace`` — so a reader
(or a crash) sees the old file or the new one, never half of either. I/O:
the local filesystem only.

``fingerprint`` is git-index-style bookkeeping (``_fingerprint``): (size,
mtime_ns, ctime_ns, inode) recorded after a write, trusted on the next read
so a no-op check costs one ``lstat`` instead of a hash.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import pwd
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftless.errors import ProviderError
from driftless.model import (
    Action,
    Change,
    FieldDiff,
    LiveResource,
    Resource,
    ResourceId,
    sensitive_digest,
)
from driftless.model.helper import TempKeepsReappearing, write_file
from driftless.providers.local._fingerprint import RACY_NS, fingerprint, trusted_digest

if TYPE_CHECKING:
    from driftless.providers.local._host import StatLike

__all__ = [
    "content_digest",
    "kind_of",
    "lstat_or_none",
    "owner_attrs",
    "owner_ids",
    "quick_diff",
    "wanted_owner",
    "durable_writes",
    "ensure_parent",
    "file_digest",
    "fingerprint",
    "format_mode",
    "os_error",
    "parent_of",
    "parse_mode",
    "remove_quietly",
    "remove_stray_temps",
    "trusted_digest",
    "write_atomic",
    "write_stream_atomic",
    "born_mode",
    "temp_path",
]

_CHUNK = 1 << 20


def parse_mode(mode: str | int | None, *, default: int) -> int:
    """``"0644"`` → 0o644; None → ``default``."""
    if mode is None:
        return default
    if isinstance(mode, int):
        return mode
    return int(mode, 8)


def format_mode(st_mode: int) -> str:
    """The permission bits as a four-digit octal string, ``"0644"``."""
    return f"{stat.S_IMODE(st_mode):04o}"


def content_digest(data: bytes, *, keyed: bool) -> str:
    """sha256 hex of ``data``, or its keyed digest when the content is secret."""
    if keyed:
        return sensitive_digest(data)
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str, *, keyed: bool) -> str:
    """Digest of a file's bytes, in the same form as ``content_digest``."""
    with open(path, "rb") as fh:
        data = fh.read()
    return content_digest(data, keyed=keyed)


def ensure_parent(path: str, *, make_parents: bool, rid: ResourceId) -> None:
    """Create the parent directory when asked; otherwise fail clearly if missing."""
    parent = os.path.dirname(path if os.path.isabs(path) else os.path.abspath(path))
    if os.path.isdir(parent):
        return
    if not make_parents:
        raise ProviderError(
            f"parent directory {parent} of {path} does not exist",
            resource=rid, hint="create it first (a local:directory), or set make_parents: true",
        )
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, path=parent, rid=rid, doing="create directory") from None


def write_atomic(path: str, data: bytes, *, mode: int, rid: ResourceId,
                 owner: tuple[int, int] | None = None) -> os.stat_result:
    """Write ``data`` to ``path`` atomically; return the new file's stat."""
    return write_stream_atomic(path, (data,), mode=mode, rid=rid, owner=owner)


def write_stream_atomic(path: str, chunks: Iterable[bytes], *, mode: int, rid: ResourceId,
                        owner: tuple[int, int] | None = None) -> os.stat_result:
    """Write chunks to a temp file beside ``path`` (made with ``mode`` when the umask
    allows, else 0600 and chmod), rename it over ``path`` (``model.helper.write_file``).

    The temp file is removed on any failure, so nothing half-written remains.
    The returned stat is taken on the open file: after the rename it is the
    same inode, so size, mtime and inode are those of ``path``. It is taken
    after the rename, which moves ctime on some file systems (ext4).
    """
    tmp = _temp_path(path)
    born = born_mode(mode)
    try:
        return write_file(path, tmp, chunks, born=born, final=None if born == mode else mode,
                          owner=owner, racy_ns=RACY_NS, fsync=durable_writes())
    except TempKeepsReappearing as exc:
        raise os_error(exc, path=tmp, rid=rid, doing="write") from None
    except OSError as exc:
        raise os_error(exc, path=path, rid=rid, doing="write") from None


class _Pid:
    """This process's id, asked of the kernel once (and again in a forked child):
    ``os.getpid`` is a system call on current glibc, and ``_temp_path`` runs once
    per file written."""

    value = os.getpid()

    @classmethod
    def refresh(cls) -> None:
        cls.value = os.getpid()


os.register_at_fork(after_in_child=_Pid.refresh)


def _temp_path(path: str) -> str:
    """A temp name beside ``path``, unique per process and thread."""
    return temp_path(path, _Pid.value, threading.get_ident())


def parent_of(path: str) -> str:
    """``os.path.dirname(path)``, with the common case (``/a/b/name``: a head that does
    not end in a slash) taken from one ``rpartition``: asked for every file of a
    10,000-file apply, at plan time and at apply time."""
    head = path.rpartition("/")[0]
    return head if head and head[-1] != "/" else os.path.dirname(path)


def temp_path(path: str, pid: int, thread: int) -> str:
    """The temp name beside ``path`` of writer ``pid``'s ``thread``:
    ``.<name>.<pid>.<thread>.tmp``, the pattern ``remove_stray_temps`` knows.

    Cheaper than ``tempfile.mkstemp`` (no random names, no retry loop), which
    counts when ten thousand files are written in one apply.
    """
    if not path.startswith("/"):
        path = os.path.abspath(path)
    head, _, tail = path.rpartition("/")  # head "" for a file in /: "/.name...tmp"
    return f"{head}/.{tail}.{pid}.{thread}.tmp"


def remove_stray_temps(path: Any) -> list[str]:
    """Remove temp files a killed writer left beside ``path``; return their paths.

    Only names of the writers' own patterns count (``.<name>.<pid>.<tid>.tmp``
    of ``write_atomic``, ``.<name>.<pid>.lnk`` of the symlink swap), and only
    when that pid is not alive: a live process may be mid-write. Kill -9 skips
    every ``finally``, so recovery calls this for each unfinished journal
    entry; the leftover may hold a secret and blocks an rmdir of its parent.
    """
    if not isinstance(path, str) or not path:
        return []
    head, tail = os.path.split(os.path.abspath(path))
    try:
        names = os.listdir(head)
    except OSError:
        return []
    prefix = f".{tail}."
    removed = []
    for name in names:
        pid = _writer_pid(name, prefix) if name.startswith(prefix) else None
        if pid is not None and not _alive(pid):
            remove_quietly(os.path.join(head, name))
            removed.append(os.path.join(head, name))
    return removed


def _writer_pid(name: str, prefix: str) -> int | None:
    """The writer's pid in a temp name of ours, or None when it is not one."""
    rest = name[len(prefix):].split(".")
    if len(rest) == 3 and rest[2] == "tmp" and rest[0].isdigit() and rest[1].isdigit():
        return int(rest[0])
    if len(rest) == 2 and rest[1] == "lnk" and rest[0].isdigit():
        return int(rest[0])
    return None


def _alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (ours counts: it may be writing)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def born_mode(mode: int) -> int:
    """The mode to create a temp file with: ``mode`` itself when the umask leaves it
    whole (so no ``fchmod`` is needed: a system call less per file written), else
    0600, and the write sets ``mode``. Never wider than ``mode``, so a secret file
    is never readable by others, not even while it is written."""
    umask = _Umask.value
    if umask is None or mode & ~0o777 or mode & umask:
        return 0o600
    return mode


class _Umask:
    """This process's umask, read once from ``/proc/self/status`` (``os.umask`` can
    only be read by setting it, which races with threads creating files); None
    where the kernel does not say, and then every file gets its ``fchmod``."""

    value: int | None = None

    @classmethod
    def read(cls) -> None:
        with contextlib.suppress(OSError, ValueError), \
                open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    cls.value = int(line.split()[1], 8)
                    return


_Umask.read()


def durable_writes() -> bool:
    """Whether writes are fsynced before the rename (default no).

    The rename alone makes every write atomic: a crash or kill -9 leaves the
    old file or the new one, never half of each, which is what recovery
    needs. An fsync per file adds durability across a *power cut* at
    ~0.3-0.8 ms a file (10,000 files ~5 s), so it is opt-in with
    ``DRIFTLESS_LOCAL_FSYNC=1`` -- the same trade Terraform's local files make.
    """
    return os.environ.get("DRIFTLESS_LOCAL_FSYNC", "0") in ("1", "true", "yes")


def remove_quietly(path: str) -> None:
    """Remove a file if it is there; used for temp files and idempotent deletes."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def os_error(exc: OSError, *, path: str | Path, rid: ResourceId, doing: str) -> ProviderError:
    """An OSError as a ProviderError that names the path and suggests a fix."""
    reason = exc.strerror or type(exc).__name__
    hints = {
        PermissionError: "run driftless as a user that may write there, or change the path",
        NotADirectoryError: "a component of the path is a file, not a directory",
        FileNotFoundError: "create the parent directory, or set make_parents: true",
        IsADirectoryError: "the path is a directory; remove it or choose another path",
    }
    hint = next((h for t, h in hints.items() if isinstance(exc, t)), None)
    return ProviderError(f"cannot {doing} {path}: {reason.lower()}", resource=rid, hint=hint)


def lstat_or_none(path: Any, rid: ResourceId) -> os.stat_result | None:
    """``lstat``, or None when nothing is there (also under a non-directory).

    A path not known yet (it references a resource not yet applied) names
    nothing that exists.
    """
    if not isinstance(path, str):
        return None
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise os_error(exc, path=path, rid=rid, doing="inspect") from None

def kind_of(st: StatLike) -> str:
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    return "symlink" if stat.S_ISLNK(st.st_mode) else "other"

def quick_diff(desired: Resource, live: LiveResource, wanted: Mapping[str, Any],
               *, replace_on: frozenset[str], sensitive: frozenset[str] = frozenset()) -> Change:
    """A diff without pydantic: ``wanted`` in the live attributes' form."""
    attrs = live.attributes
    diffs = [FieldDiff(k, attrs.get(k), v, k in sensitive, k in replace_on)
             for k, v in wanted.items() if v != attrs.get(k)]
    if not diffs:
        return Change(desired.id, Action.NOOP, desired, live)
    forced = [d.path for d in diffs if d.forces_replace]
    action = Action.REPLACE if forced else Action.UPDATE
    names = forced or [d.path for d in diffs]
    reason = f"{', '.join(names)} {'forces replacement' if forced else 'changed'}"
    return Change(desired.id, action, desired, live, tuple(diffs), reason=reason)

def owner_ids(owner: str | int | None, group: str | int | None,
               rid: ResourceId) -> tuple[int, int] | None:
    if owner is None and group is None:
        return None
    try:
        uid = -1 if owner is None else (owner if isinstance(owner, int)
                                        else pwd.getpwnam(owner).pw_uid)
        gid = -1 if group is None else (group if isinstance(group, int)
                                        else grp.getgrnam(group).gr_gid)
    except KeyError as exc:
        raise ProviderError(f"unknown user or group {exc}", resource=rid,
                            hint="create the user/group first or fix the name") from None
    return uid, gid

def owner_attrs(props: Mapping[str, Any], st: StatLike) -> dict[str, Any]:
    """``owner``/``group`` in the form the user wrote them (name or id), if asked."""
    out: dict[str, Any] = {}
    if props.get("owner") is not None:
        owner = props["owner"]
        out["owner"] = st.st_uid if isinstance(owner, int) else _user_name(st.st_uid)
    if props.get("group") is not None:
        group = props["group"]
        out["group"] = st.st_gid if isinstance(group, int) else _group_name(st.st_gid)
    return out

def _user_name(uid: int) -> str | int:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return uid

def _group_name(gid: int) -> str | int:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return gid

def wanted_owner(props: Mapping[str, Any]) -> dict[str, Any]:
    return {k: props[k] for k in ("owner", "group") if props.get(k) is not None}
