"""Early write-back of the SQLite WAL (``state.writeback``): the kernel is asked to
start writing the WAL once it has grown by ``STEP``, so the close's sync is short.
The kernel's write-out itself is not under test: a recorder stands in for
``sync_file_range`` to see when driftless asks, and one test makes the real call."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftless.model import ResourceId, ResourceState, StateSnapshot
from driftless.state import writeback
from driftless.state.sqlite import SQLiteBackend
from driftless.state.writeback import STEP, WalWriteback


class _Asked:
    """Stands in for ``sync_file_range``: what it was asked, by file inode."""

    def __init__(self) -> None:
        self.inodes: list[int] = []

    def __call__(self, fd: int, offset: int, count: int, flags: int) -> int:
        assert (offset, count, flags) == (0, 0, 2)  # the whole file, start write-out only
        self.inodes.append(os.fstat(fd).st_ino)
        return 0


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Asked]:
    recorder = _Asked()
    monkeypatch.setattr(writeback, "_sync_file_range", lambda: recorder)
    yield recorder


def _snapshot(n: int, serial: int = 1) -> StateSnapshot:
    resources = {}
    for i in range(n):
        rid = ResourceId("local", "file", "f", i)
        noise = os.urandom(400).hex()  # rows are stored compressed: this does not shrink
        resources[rid] = ResourceState(rid, {"path": f"/srv/f{i}", "noise": noise}, {},
                                       {"path": f"/srv/f{i}"})
    return StateSnapshot("lineage-1", serial, resources, {})


def test_a_large_write_asks_for_the_wal_to_be_written_out(tmp_path: Path,
                                                         asked: _Asked) -> None:
    backend = SQLiteBackend(tmp_path / "s.db")
    try:
        backend.write("files", _snapshot(3))
        assert asked.inodes == []  # a small write: the WAL grew by far less than STEP
        backend.write("files", _snapshot(6000, serial=2))
        wal = tmp_path / "s.db-wal"
        assert wal.stat().st_size >= STEP
        assert asked.inodes == [wal.stat().st_ino]
    finally:
        backend.close()


@pytest.fixture
def grown(tmp_path: Path) -> Iterator[tuple[Path, WalWriteback]]:
    """A WAL already past ``STEP``, and a watch on it."""
    wal = tmp_path / "s.db-wal"
    wal.write_bytes(b"\0" * (STEP + 10))
    watch = WalWriteback(tmp_path / "s.db")
    yield wal, watch
    watch.close()


def test_it_asks_again_only_after_another_step(grown: tuple[Path, WalWriteback],
                                               asked: _Asked) -> None:
    wal, watch = grown
    watch.committed()
    watch.committed()
    assert len(asked.inodes) == 1
    with wal.open("ab") as fh:
        fh.write(b"\0" * STEP)
    watch.committed()
    assert len(asked.inodes) == 2


def test_a_wal_made_again_is_counted_and_opened_anew(grown: tuple[Path, WalWriteback],
                                                     asked: _Asked) -> None:
    wal, watch = grown
    watch.committed()
    first = wal.stat().st_ino
    wal.rename(wal.with_name("old"))  # held, so the new file cannot reuse the inode
    wal.write_bytes(b"\0" * 100)
    watch.committed()  # a new, small WAL: nothing yet
    wal.write_bytes(b"\0" * (STEP + 10))
    watch.committed()
    assert asked.inodes == [first, wal.stat().st_ino] and first != wal.stat().st_ino


def test_without_the_call_nothing_happens(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeback, "_sync_file_range", lambda: None)
    (tmp_path / "s.db-wal").write_bytes(b"\0" * (STEP + 10))
    watch = WalWriteback(tmp_path / "s.db")
    watch.committed()  # no call to make, no descriptor opened
    assert watch._fd is None
    WalWriteback(tmp_path / "missing.db").committed()  # no WAL at all


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_the_real_call_is_found_and_accepted_on_linux(tmp_path: Path) -> None:
    fn = writeback._sync_file_range()
    assert fn is not None
    path = tmp_path / "data"
    path.write_bytes(b"x" * 65536)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert fn(fd, 0, 0, 2) == 0
    finally:
        os.close(fd)


def test_a_failing_call_never_fails_the_committed_write(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(fd: int, offset: int, count: int, flags: int) -> int:
        raise TypeError("a ctypes call gone wrong")

    monkeypatch.setattr(writeback, "_sync_file_range", lambda: broken)
    backend = SQLiteBackend(tmp_path / "s.db")
    try:
        backend.write("files", _snapshot(6000))  # grows the WAL past STEP: the call is made
        assert len(backend.read("files").resources) == 6000
    finally:
        backend.close()
