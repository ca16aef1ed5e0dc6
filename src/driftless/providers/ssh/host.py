"""``SshHost``: the local kinds' host seam (``providers/local/_host``) over SSH.

Every method is one helper request (or an SFTP upload plus one request for
a write), so the kinds' logic runs unchanged against a remote machine.
Secret digests are keyed with the operator's key, which never leaves this
machine: a keyed digest reads the bytes back and digests them here.
I/O: the network, through ``transport.Connection``.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from driftless.errors import ProviderError
from driftless.model import ResourceId
from driftless.providers.local._atomic import content_digest, os_error
from driftless.providers.local._host import RunResult, StatFields, StatLike
from driftless.providers.ssh.transport import Connection

__all__ = ["RemoteStat", "SshHost"]


RemoteStat = StatFields  # an lstat taken on the host


def _stat(raw: Any) -> RemoteStat | None:
    if raw is None:
        return None
    if len(raw) == 2:
        raise OSError(int(raw[0]), str(raw[1]))
    return RemoteStat(*raw)


class SshHost:
    """One remote machine reached through a pooled connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.name = str(conn.target)

    def lstat(self, path: str) -> StatLike:
        """lstat on the host (``OSError`` when missing)."""
        return RemoteStat(*self.conn.call("lstat", path))

    def lstat_many(self, paths: Sequence[str]) -> list[RemoteStat | None]:
        """lstat of many paths in one round trip (None: nothing there)."""
        return [_stat(r) for r in self.conn.call("lstat_many", list(paths))]

    def lstat_or_none(self, path: Any, rid: ResourceId) -> StatLike | None:
        """lstat, None when nothing is there; other errors name the path."""
        if not isinstance(path, str):
            return None
        try:
            fetched, raw = self.conn.take_prefetched(path)
            return _stat(raw) if fetched else self.lstat_many([path])[0]
        except OSError as exc:
            raise os_error(exc, path=path, rid=rid, doing="inspect") from None

    def file_digest(self, path: str, *, keyed: bool) -> str:
        """sha256 computed on the host; a keyed digest is computed here."""
        if keyed:
            return content_digest(self.read_bytes(path), keyed=True)
        return str(self.conn.call("sha256", path))

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        """The file's bytes (at most ``limit``)."""
        return base64.b64decode(self.conn.call("read", path, limit))

    def ensure_parent(self, path: str, *, make_parents: bool, rid: ResourceId) -> None:
        """As ``_atomic.ensure_parent``, on the host."""
        parent = os.path.dirname(path)
        if self.conn.call("isdir", parent):
            return
        if not make_parents:
            raise ProviderError(
                f"parent directory {parent} of {path} does not exist on {self.name}",
                resource=rid, hint="create it first (a directory), or set make_parents: true")
        try:
            self.conn.call("makedirs", parent)
        except OSError as exc:
            raise os_error(exc, path=parent, rid=rid, doing="create directory") from None

    def write_atomic(self, path: str, data: bytes, *, mode: int, rid: ResourceId,
                     owner: tuple[int, int] | None = None) -> StatLike:
        """Upload to a temp file beside ``path`` (SFTP), then chmod/chown/rename on the host.

        Under sudo the helper writes the temp file itself (the SSH user may not
        write there). A failure removes the temp file.
        """
        try:
            if self.conn.target.sudo:
                raw = self.conn.call("write", path, base64.b64encode(data).decode(), mode, owner)
            else:
                head, tail = os.path.split(path)
                tmp = f"{head}/.{tail}.{self.conn.helper_pid}.{threading.get_ident()}.tmp"
                try:
                    self.conn.upload(tmp, data)
                except OSError:
                    self.conn.call("unlink", tmp)
                    raise
                raw = self.conn.call("commit", tmp, path, mode, owner)
        except OSError as exc:
            raise os_error(exc, path=path, rid=rid, doing="write") from None
        return RemoteStat(*raw)

    def write_stream_atomic(self, path: str, chunks: Iterable[bytes], *, mode: int,
                            rid: ResourceId) -> StatLike:
        """Gather the chunks here (a verifying stream fails before anything is
        sent), then ``write_atomic``."""
        return self.write_atomic(path, b"".join(chunks), mode=mode, rid=rid)

    def owner_ids(self, owner: str | int | None, group: str | int | None,
                  rid: ResourceId) -> tuple[int, int] | None:
        """Names resolved on the host."""
        if owner is None and group is None:
            return None
        got = self.conn.call("ids", owner, group)
        if isinstance(got, dict):
            raise ProviderError(f"unknown user or group {got['unknown']} on {self.name}",
                                resource=rid, hint="create the user/group first or fix the name")
        return int(got[0]), int(got[1])

    def owner_attrs(self, props: Mapping[str, Any], st: StatLike) -> dict[str, Any]:
        """``owner``/``group`` as the user wrote them (name or id), if asked."""
        want_owner, want_group = props.get("owner"), props.get("group")
        if want_owner is None and want_group is None:
            return {}
        user, group = self.conn.call("names", st.st_uid, st.st_gid)
        out: dict[str, Any] = {}
        if want_owner is not None:
            out["owner"] = st.st_uid if isinstance(want_owner, int) else user
        if want_group is not None:
            out["group"] = st.st_gid if isinstance(want_group, int) else group
        return out

    def chmod(self, path: str, mode: int) -> None:
        """chmod on the host."""
        self.conn.call("chmod", path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """chown on the host."""
        self.conn.call("chown", path, uid, gid)

    def isdir(self, path: str) -> bool:
        """Whether a directory is there."""
        return bool(self.conn.call("isdir", path))

    def islink(self, path: str) -> bool:
        """Whether a symlink is there."""
        return bool(self.conn.call("islink", path))

    def lexists(self, path: str) -> bool:
        """Whether anything is there (a dangling link counts)."""
        return bool(self.conn.call("lexists", path))

    def mkdir(self, path: str) -> None:
        """mkdir on the host."""
        self.conn.call("mkdir", path)

    def rmdir(self, path: str) -> None:
        """rmdir on the host."""
        self.conn.call("rmdir", path)

    def rmtree(self, path: str) -> None:
        """Remove a tree on the host."""
        self.conn.call("rmtree", path)

    def listdir(self, path: str) -> list[str]:
        """The names in a directory on the host."""
        return list(self.conn.call("listdir", path))

    def mkdtemp(self, *, prefix: str, dir: str) -> str:
        """A new private directory on the host."""
        return str(self.conn.call("mkdtemp", prefix, dir))

    def rename(self, src: str, dst: str) -> None:
        """rename on the host."""
        self.conn.call("rename", src, dst)

    def readlink(self, path: str) -> str:
        """readlink on the host."""
        return str(self.conn.call("readlink", path))

    def symlink_swap(self, target: str, path: str) -> None:
        """Make a link under a temp name and rename it over ``path``, on the host."""
        self.conn.call("symlink_swap", target, path)

    def remove_quietly(self, path: str) -> None:
        """Remove a file if it is there."""
        self.conn.call("unlink", path)

    def remove_stray_temps(self, path: Any) -> list[str]:
        """Temp files of dead writers beside ``path``, removed on the host."""
        if not isinstance(path, str) or not path:
            return []
        try:
            return list(self.conn.call("stray_temps", path))
        except OSError:
            return []

    def run(self, argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str],
            timeout: float) -> RunResult:
        """Run on the host through the helper; env travels on the channel, not in argv."""
        code, out, err, timed_out = self.conn.run_b64(argv, cwd, dict(env), timeout)
        return RunResult(code, out, err, timed_out)
