"""The SQLite row cache: decoded rows left by a write, used only for the same bytes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import StateError
from driftless.model import ResourceId, ResourceState, StateSnapshot
from driftless.state.packed import pack
from driftless.state.sqlite import SQLiteBackend, from_url


def _snapshot(n: int) -> StateSnapshot:
    resources = {}
    for i in range(n):
        rid = ResourceId("local", "file", "f", i)
        resources[rid] = ResourceState(
            rid, {"path": f"/srv/f{i}", "size": i}, {"ino": 100 + i},
            {"path": f"/srv/f{i}", "content": {"$sha256": f"{i:064x}"}},
            protect=i == 3, depends_on=(ResourceId("local", "directory", "srv"),))
    return StateSnapshot("lineage-1", 1, resources, {"out": "x"})


def _sidecars(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if ".rows-" in p.name]


def _fresh_read(tmp: Path, db: Path) -> StateSnapshot:
    reader = from_url(f"sqlite:///{db}", tmp)
    try:
        return reader.read("files")
    finally:
        reader.close()


def test_a_write_leaves_decoded_rows_that_read_back_the_same(
        tmp_path: Path, count_inflated: Callable[[], list[object]]) -> None:
    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    writer.write("files", _snapshot(12))
    writer.close()
    [sidecar] = _sidecars(tmp_path)
    assert sidecar.stat().st_mode & 0o777 == 0o600
    inflated = count_inflated()
    cached = _fresh_read(tmp_path, db)
    assert len(inflated) == 1  # the outputs only: no row was inflated
    sidecar.unlink()
    decoded = _fresh_read(tmp_path, db)
    assert len(inflated) == 1 + 1 + 12
    assert cached == decoded == _snapshot(12)
    assert list(cached.resources) == list(decoded.resources)  # same order too


def test_a_row_changed_behind_its_back_is_decoded_from_the_database(tmp_path: Path) -> None:
    """The cache is found by the stored bytes, not by the serial: a row rewritten
    by anyone (here by hand, serial unchanged) is read as stored."""
    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    writer.write("files", _snapshot(5))
    writer.close()
    rid = ResourceId("local", "file", "f", 2)
    changed = ResourceState(rid, {"path": "/elsewhere", "size": 9}, {}, {})
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE resources SET doc = ? WHERE address = ?",
                     (pack(json.dumps(changed.to_json(), sort_keys=True)), str(rid)))
    assert _fresh_read(tmp_path, db).resources[rid] == changed


def test_a_damaged_cache_file_only_costs_a_decode(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    writer.write("files", _snapshot(5))
    writer.close()
    [sidecar] = _sidecars(tmp_path)
    data = sidecar.read_bytes()
    sidecar.write_bytes(data[: len(data) // 2])
    assert _fresh_read(tmp_path, db) == _snapshot(5)
    sidecar.write_bytes(b"nonsense")
    assert _fresh_read(tmp_path, db) == _snapshot(5)


def test_a_lock_holder_leaves_the_cache_a_plain_read_does_not(tmp_path: Path) -> None:
    """State without a row cache (an older version wrote it, or the file was removed)
    gets one from the next client that reads it holding the lock (a plan), never
    from a read-only command."""
    from driftless.model import LockInfo

    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    writer.write("files", _snapshot(6))
    writer.close()
    for sidecar in _sidecars(tmp_path):
        sidecar.unlink()
    assert _fresh_read(tmp_path, db) == _snapshot(6)
    assert not _sidecars(tmp_path)  # a read-only command wrote nothing
    planner = from_url(f"sqlite:///{db}", tmp_path)
    planner.read("files")  # checked before the lock is taken, as plan does
    info = LockInfo.new("plan")
    planner.lock("files", info)
    assert planner.read("files") == _snapshot(6)
    planner.unlock("files", info.id)
    planner.close()
    assert len(_sidecars(tmp_path)) == 1
    assert _fresh_read(tmp_path, db) == _snapshot(6)  # and it reads back the same


def test_a_cache_left_by_a_write_whose_commit_failed_goes_unused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row cache is left before the rows are stored (its writer runs while they
    are inserted and synced): a transaction that then fails leaves rows keyed by
    bytes never stored."""
    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    writer.write("files", _snapshot(5))
    before = {p.name: p.read_bytes() for p in _sidecars(tmp_path)}
    keep = SQLiteBackend._keep_written

    def then_fail(self: SQLiteBackend, *args: Any) -> Any:
        keep(self, *args)
        raise sqlite3.OperationalError("disk I/O error")  # as a failed commit would

    monkeypatch.setattr(SQLiteBackend, "_keep_written", then_fail)
    rid = ResourceId("local", "file", "f", 2)
    moved = dict(_snapshot(5).resources)
    moved[rid] = ResourceState(rid, {"path": "/elsewhere", "size": 9}, {}, {})
    with pytest.raises(StateError):
        writer.write("files", StateSnapshot("lineage-1", 2, moved, {"out": "x"}))
    writer.close()
    after = {p.name: p.read_bytes() for p in _sidecars(tmp_path)}
    assert after != before  # the new row was left (a delta), for bytes never stored
    assert _fresh_read(tmp_path, db) == _snapshot(5)  # yet a read takes what is stored
