"""Early write-back of a SQLite write-ahead log, so closing the state is short.

State runs in WAL mode with ``synchronous=NORMAL``: a commit appends to the
``-wal`` file and does not sync it. The last connection to close then
checkpoints: it syncs the WAL, copies its pages into the database and syncs
that. After a 10,000-file apply the WAL holds ~11 MB that the kernel has not
yet written (it waits ~30 s before writing dirty pages back on its own), so
that close waited for all of it: ~80 ms of a run on a slow disk, where a
tmpfs took ~7.

``WalWriteback.committed`` is called after each write transaction. Once the
WAL has grown by ``STEP`` bytes since the last call that acted, it asks the
kernel to start writing the WAL's dirty pages (Linux ``sync_file_range`` with
``SYNC_FILE_RANGE_WRITE``: it starts the I/O and returns, without waiting and
without dropping the pages from the cache, which the checkpoint reads). The
disk then writes while driftless works, and the close's sync finds little
left to do (measured: ~45 ms instead of ~90 on the same slow disk).

Nothing changes in what is durable when: this only starts earlier the
writes a sync would make anyway. Where the call is missing (not Linux, no
libc symbol), or fails, nothing happens. ``ctypes`` is imported only when a
WAL first grows by ``STEP``: a small command never loads it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["STEP", "WalWriteback"]

STEP = 2 << 20
"""Bytes of WAL growth between two write-backs: an apply of 10,000 files asks
about five times; an ordinary small command never."""

_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of dirty pages, do not wait

SyncRange = Callable[[int, int, int, int], int]


@functools.cache  # looked up once per process
def _sync_file_range() -> SyncRange | None:
    """libc's ``sync_file_range`` through ctypes, or None where there is none."""
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (ImportError, OSError, AttributeError):  # no ctypes, or not Linux
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


class WalWriteback:
    """Starts the write-out of one database's WAL as it grows (see the module)."""

    def __init__(self, database: Path) -> None:
        self.wal = f"{database}-wal"
        self._lock = threading.Lock()
        self._counted: tuple[int, int] = (-1, 0)  # the WAL's inode, its size at the last start
        self._fd: int | None = None
        self._fd_inode = -1  # the file ``_fd`` is open on (-1: none)

    def committed(self) -> None:
        """After a write transaction: start writing the WAL out when it grew by
        ``STEP`` since last time. It never fails the transaction, which is
        committed already: whatever goes wrong, the checkpoint's sync does the work."""
        try:
            self._grown()
        except Exception:  # whatever it is: see above
            return

    def _grown(self) -> None:
        """``committed``'s work: count the WAL's growth, start the write-out past a step."""
        try:
            st = os.stat(self.wal)
        except OSError:
            return
        inode, since = self._counted
        if inode != st.st_ino or st.st_size < since:
            inode, since = st.st_ino, 0  # a new or truncated WAL: count from its start
            self._counted = (inode, since)
        if st.st_size - since < STEP:
            return
        with self._lock:
            if self._started(st.st_ino):
                self._counted = (inode, st.st_size)

    def _started(self, inode: int) -> bool:
        """Ask the kernel to start writing the WAL (file ``inode``) back; whether it
        was asked (there is a call to ask with, and the file could be opened)."""
        fn = _sync_file_range()
        if fn is None:
            return False
        if self._fd_inode != inode:
            self._reopen()
        if self._fd is None:
            return False
        fn(self._fd, 0, 0, _SYNC_FILE_RANGE_WRITE)  # a failure only sets errno
        return True

    def _reopen(self) -> None:
        """A descriptor on the WAL there now (a WAL made again is another file)."""
        self.close()
        try:
            self._fd = os.open(self.wal, os.O_RDONLY | os.O_CLOEXEC)
            self._fd_inode = os.fstat(self._fd).st_ino
        except OSError:
            self.close()

    def close(self) -> None:
        """Let go of the descriptor, if one is open."""
        fd, self._fd, self._fd_inode = self._fd, None, -1
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
