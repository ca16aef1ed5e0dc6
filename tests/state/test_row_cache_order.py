"""A write that stores every row digests them for the row cache without selecting them
again: in Python's order of addresses, which must be SQLite's, or the next read
misses the cache. Keys of every kind of character make sure the two orders agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from driftless.model import ResourceId, ResourceState, StateSnapshot
from driftless.state.sqlite import from_url

KEYS = ["a", "B", "Z", "é", "e\u0301", "日本", "\U0001f600", "~", " space", "0", "10", "9",
        'quo"te', "back\\slash", "\x7f", "ÿ", "\uffff"]


def _snapshot(serial: int) -> StateSnapshot:
    resources = {}
    for key in KEYS:
        rid = ResourceId("local", "file", "f", key)
        resources[rid] = ResourceState(rid, {"path": f"/srv/{key}"}, {"ino": 1}, {"k": key})
    return StateSnapshot("lineage-1", serial, resources, {})


def test_rows_all_written_at_once_are_found_in_the_cache(
        tmp_path: Path, count_inflated: Callable[[], list[object]]) -> None:
    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    writer.write("files", _snapshot(1))
    writer.close()
    inflated = count_inflated()
    reader = from_url(f"sqlite:///{db}", tmp_path)
    try:
        snap = reader.read("files")
    finally:
        reader.close()
    assert len(inflated) == 1  # the outputs only: every row came from the cache
    assert snap == _snapshot(1)
