"""The stat cache of file-like local kinds: what it trusts, and what it never misses.

A no-op read of a file driftless recorded costs one lstat and no hashing;
a changed file is found even when its size and mtime were put back, because
ctime and the inode cannot be; a racily clean record (mtime too close to the
moment it was taken) is hashed, as git does. Real files in tmp_path.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from driftless.model import Action, LiveResource, Resource, ResourceId
from driftless.providers.local import LocalProvider
from driftless.providers.local._fingerprint import RACY_NS, racy


def _res(kind: str, **props: Any) -> Resource:
    return Resource(ResourceId("local", kind, "x"), props)


def _apply(p: LocalProvider, r: Resource) -> LiveResource:
    live = p.apply(p.diff(r, p.read(r, None)))
    assert live is not None
    return live


def _put_back(path: Path, st: os.stat_result) -> None:
    """Set atime and mtime back to what ``st`` recorded (as ``touch -d`` would)."""
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


KINDS: dict[str, dict[str, Any]] = {
    "file": {"content": "hello world\n"},
    "template": {"template": "hello {{ who }}\n", "vars": {"who": "world"}},
    "env_file": {"values": {"GREETING": "hello-world"}},
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_noop_read_after_apply_stats_without_hashing(
        tmp_path: Path, hashes: list[str], kind: str) -> None:
    p, path = LocalProvider(), tmp_path / "f"
    r = _res(kind, path=str(path), **KINDS[kind])
    live = _apply(p, r)
    hashes.clear()
    again = p.read(r, live)
    assert again is live and hashes == []
    assert p.diff(r, again).action is Action.NOOP


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_same_size_same_mtime_content_drift_is_found(
        tmp_path: Path, hashes: list[str], kind: str) -> None:
    """Edited in place to the same size, mtime set back: ctime still moved."""
    p, path = LocalProvider(), tmp_path / "f"
    r = _res(kind, path=str(path), **KINDS[kind])
    live = _apply(p, r)
    before = path.stat()
    data = path.read_bytes()
    with open(path, "r+b") as fh:  # in place: same inode
        fh.write(data.replace(b"hello", b"HELLO"))
    _put_back(path, before)
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino)
    assert after.st_ctime_ns != before.st_ctime_ns
    hashes.clear()
    change = p.diff(r, p.read(r, live))
    assert change.action is Action.UPDATE
    assert path.read_bytes() != data


def test_same_size_same_mtime_replaced_file_is_found(tmp_path: Path) -> None:
    """Replaced by rename (an editor's save), size and mtime put back: a new inode."""
    p, path = LocalProvider(), tmp_path / "f"
    r = _res("file", path=str(path), content="hello world\n")
    live = _apply(p, r)
    before = path.stat()
    other = tmp_path / "g"
    other.write_text("HELLO world\n")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, path)
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert p.diff(r, p.read(r, live)).action is Action.UPDATE


def test_a_racily_clean_record_is_hashed(tmp_path: Path, hashes: list[str]) -> None:
    """A record taken in the same clock tick as the file's mtime is not trusted."""
    p, path = LocalProvider(), tmp_path / "f"
    r = _res("file", path=str(path), content="hello world\n")
    live = _apply(p, r)
    st = path.stat()
    racy_record = replace(live, private={**live.private, "seen_ns": st.st_mtime_ns + 1})
    hashes.clear()
    again = p.read(r, racy_record)
    assert hashes == [str(path)]
    assert again is not None and p.diff(r, again).action is Action.NOOP
    hashes.clear()
    clean_record = replace(live, private={**live.private,
                                          "seen_ns": st.st_mtime_ns + RACY_NS})
    assert p.read(r, clean_record) is clean_record and hashes == []


def test_a_file_written_by_someone_else_is_racy_until_its_tick_is_over(
        tmp_path: Path, hashes: list[str]) -> None:
    """Adopted or drifted files are recorded from a stat: right after their own
    write the record is racily clean, and hashed again next time."""
    p, path = LocalProvider(), tmp_path / "f"
    path.write_text("hello world\n")
    r = _res("file", path=str(path), content="hello world\n")
    live = p.read(r, None)
    assert live is not None and hashes == [str(path)]
    assert racy(path.stat().st_mtime_ns, live.private["seen_ns"])
    hashes.clear()
    p.read(r, live)
    assert hashes == [str(path)]


def test_a_record_of_an_older_version_is_hashed(tmp_path: Path, hashes: list[str]) -> None:
    """State written before ctime was recorded: hash, never trust a weaker fingerprint."""
    p, path = LocalProvider(), tmp_path / "f"
    r = _res("file", path=str(path), content="hello world\n")
    live = _apply(p, r)
    old = {k: v for k, v in live.private.items() if k not in ("ctime_ns", "seen_ns")}
    hashes.clear()
    again = p.read(r, replace(live, private=old))
    assert hashes == [str(path)] and again is not None
    assert p.diff(r, again).action is Action.NOOP


def test_whole_second_timestamps_have_a_two_second_racy_window() -> None:
    second = 1_000_000_000
    assert racy(5 * second, 5 * second + second)
    assert not racy(5 * second, 5 * second + 3 * second)
    assert racy(5 * second + 7, 5 * second + 7 + RACY_NS - 1)
    assert not racy(5 * second + 7, 5 * second + 7 + RACY_NS)


def test_driftless_writes_leave_an_mtime_before_the_record(tmp_path: Path) -> None:
    """The written file's mtime lies before the record by more than the racy window,
    so a later write in the same clock tick still moves mtime."""
    p, path = LocalProvider(), tmp_path / "f"
    start = time.time_ns()
    live = _apply(p, _res("file", path=str(path), content="x"))
    mtime = path.stat().st_mtime_ns
    assert mtime < start and not racy(mtime, live.private["seen_ns"])
    path.write_text("y")
    assert path.stat().st_mtime_ns > mtime
