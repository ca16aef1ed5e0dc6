"""The host seam of the local kinds: everything they do to a machine, in one place.

The kinds call these methods on ``self.host``. ``LOCAL`` does it on this
machine with exactly the calls the kinds made before (``os.lstat``,
``write_atomic``, ``subprocess``); the ssh provider gives a handler a host
that does the same over SSH, so a kind's logic exists once. Methods named
like an ``_atomic`` helper (``lstat_or_none``, ``write_atomic``,
``ensure_parent``, ``owner_ids``) raise what that helper raises, a
``ProviderError`` naming the resource; the plain file system ones
(``lstat``, ``chmod``, ``readlink``, ...) raise ``OSError`` with its errno,
on any host, so the kinds word every failure alike.
I/O: the local file system and child processes (``LocalHost``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from driftless.model import ResourceId
from driftless.providers.local import _atomic
from driftless.records import record

__all__ = ["LOCAL", "Host", "LocalHost", "RunResult", "StatFields", "StatLike"]


class StatLike(Protocol):
    """The fields of a stat the kinds use (``os.stat_result`` has them all)."""

    @property
    def st_mode(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_ctime_ns(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_uid(self) -> int: ...
    @property
    def st_gid(self) -> int: ...


class StatFields(NamedTuple):
    """A stat taken elsewhere, as plain values (``StatLike``): on an SSH host, or by
    the writer process of a large local apply."""

    st_mode: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_ino: int
    st_uid: int
    st_gid: int


@record
class RunResult:
    """A finished process: exit code and raw output (``timed_out``: killed at the limit)."""

    code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


class Host(Protocol):
    """What a kind may do to the machine it manages."""

    name: str

    def lstat(self, path: str) -> StatLike: ...
    def lstat_or_none(self, path: Any, rid: ResourceId) -> StatLike | None: ...
    def file_digest(self, path: str, *, keyed: bool) -> str: ...
    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes: ...
    def ensure_parent(self, path: str, *, make_parents: bool, rid: ResourceId) -> None: ...
    def write_atomic(self, path: str, data: bytes, *, mode: int, rid: ResourceId,
                     owner: tuple[int, int] | None = None) -> StatLike: ...
    def write_stream_atomic(self, path: str, chunks: Iterable[bytes], *, mode: int,
                            rid: ResourceId) -> StatLike: ...
    def owner_ids(self, owner: str | int | None, group: str | int | None,
                  rid: ResourceId) -> tuple[int, int] | None: ...
    def owner_attrs(self, props: Mapping[str, Any], st: StatLike) -> dict[str, Any]: ...
    def chmod(self, path: str, mode: int) -> None: ...
    def chown(self, path: str, uid: int, gid: int) -> None: ...
    def isdir(self, path: str) -> bool: ...
    def islink(self, path: str) -> bool: ...
    def lexists(self, path: str) -> bool: ...
    def mkdir(self, path: str) -> None: ...
    def rmdir(self, path: str) -> None: ...
    def rmtree(self, path: str) -> None: ...
    def listdir(self, path: str) -> list[str]: ...
    def mkdtemp(self, *, prefix: str, dir: str) -> str: ...
    def rename(self, src: str, dst: str) -> None: ...
    def readlink(self, path: str) -> str: ...
    def symlink_swap(self, target: str, path: str) -> None: ...
    def remove_quietly(self, path: str) -> None: ...
    def remove_stray_temps(self, path: Any) -> list[str]: ...
    def run(self, argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str],
            timeout: float) -> RunResult: ...


class LocalHost:
    """This machine, as the user driftless runs as."""

    name = "local"

    def lstat(self, path: str) -> StatLike:
        """``os.lstat``."""
        return os.lstat(path)

    def lstat_or_none(self, path: Any, rid: ResourceId) -> StatLike | None:
        """See ``_atomic.lstat_or_none``."""
        return _atomic.lstat_or_none(path, rid)

    def file_digest(self, path: str, *, keyed: bool) -> str:
        """See ``_atomic.file_digest``."""
        return _atomic.file_digest(path, keyed=keyed)

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        """The file's bytes (at most ``limit`` of them)."""
        with open(path, "rb") as fh:
            return fh.read(-1 if limit is None else limit)

    def ensure_parent(self, path: str, *, make_parents: bool, rid: ResourceId) -> None:
        """See ``_atomic.ensure_parent``."""
        _atomic.ensure_parent(path, make_parents=make_parents, rid=rid)

    def write_atomic(self, path: str, data: bytes, *, mode: int, rid: ResourceId,
                     owner: tuple[int, int] | None = None) -> StatLike:
        """See ``_atomic.write_atomic``."""
        return _atomic.write_atomic(path, data, mode=mode, rid=rid, owner=owner)

    def write_stream_atomic(self, path: str, chunks: Iterable[bytes], *, mode: int,
                            rid: ResourceId) -> StatLike:
        """See ``_atomic.write_stream_atomic``."""
        return _atomic.write_stream_atomic(path, chunks, mode=mode, rid=rid)

    def owner_ids(self, owner: str | int | None, group: str | int | None,
                  rid: ResourceId) -> tuple[int, int] | None:
        """See ``_atomic.owner_ids``."""
        return _atomic.owner_ids(owner, group, rid)

    def owner_attrs(self, props: Mapping[str, Any], st: StatLike) -> dict[str, Any]:
        """See ``_atomic.owner_attrs``."""
        return _atomic.owner_attrs(props, st)

    def chmod(self, path: str, mode: int) -> None:
        """``os.chmod``."""
        os.chmod(path, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """``os.chown``."""
        os.chown(path, uid, gid)

    def isdir(self, path: str) -> bool:
        """``os.path.isdir``."""
        return os.path.isdir(path)

    def islink(self, path: str) -> bool:
        """``os.path.islink``."""
        return os.path.islink(path)

    def lexists(self, path: str) -> bool:
        """``os.path.lexists``."""
        return os.path.lexists(path)

    def mkdir(self, path: str) -> None:
        """``os.mkdir``."""
        os.mkdir(path)

    def rmdir(self, path: str) -> None:
        """``os.rmdir``."""
        os.rmdir(path)

    def rmtree(self, path: str) -> None:
        """``shutil.rmtree``."""
        import shutil

        shutil.rmtree(path)

    def listdir(self, path: str) -> list[str]:
        """``os.listdir``."""
        return os.listdir(path)

    def mkdtemp(self, *, prefix: str, dir: str) -> str:
        """``tempfile.mkdtemp``."""
        import tempfile

        return tempfile.mkdtemp(prefix=prefix, dir=dir)

    def rename(self, src: str, dst: str) -> None:
        """``os.rename``."""
        os.rename(src, dst)

    def readlink(self, path: str) -> str:
        """``os.readlink``."""
        return os.readlink(path)

    def symlink_swap(self, target: str, path: str) -> None:
        """Make the link under a temp name beside ``path``, then rename it over ``path``."""
        tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                           f".{os.path.basename(path)}.{os.getpid()}.lnk")
        try:
            _atomic.remove_quietly(tmp)
            os.symlink(target, tmp)
            os.replace(tmp, path)
        except OSError:
            _atomic.remove_quietly(tmp)
            raise

    def remove_quietly(self, path: str) -> None:
        """See ``_atomic.remove_quietly``."""
        _atomic.remove_quietly(path)

    def remove_stray_temps(self, path: Any) -> list[str]:
        """See ``_atomic.remove_stray_temps``."""
        return _atomic.remove_stray_temps(path)

    def run(self, argv: Sequence[str], *, cwd: str | None, env: Mapping[str, str],
            timeout: float) -> RunResult:
        """Run ``argv`` in its own process group; kill the group on timeout.

        ``OSError`` when it cannot start (missing program or cwd).
        """
        import signal
        import subprocess

        proc = subprocess.Popen(list(argv), cwd=cwd, env={**os.environ, **env},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            return RunResult(-9, out, err, timed_out=True)
        return RunResult(proc.returncode, out, err)


LOCAL: Host = LocalHost()
"""The machine driftless runs on: every local kind's default host."""
