"""The row cache's delta: a write that replaces a few rows in place rewrites only a small
delta file beside the base, and a read uses base and delta only for the very bytes stored."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

import driftless.state.row_cache as row_cache_mod
import driftless.state.sqlite as sqlite_mod
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.state.packed import pack
from driftless.state.sqlite import SQLiteBackend, from_url

STACK = "files"


def _state(i: int, size: int = 0) -> ResourceState:
    rid = ResourceId("local", "file", "f", i)
    return ResourceState(
        rid, {"path": f"/srv/f{i}", "size": size}, {"ino": 100 + i},
        {"path": f"/srv/f{i}", "content": {"$sha256": f"{i:064x}"}},
        depends_on=(ResourceId("local", "directory", "srv"),))


def _snapshot(n: int) -> StateSnapshot:
    return StateSnapshot("lineage-1", 1, {s.id: s for s in map(_state, range(n))}, {"o": 1})


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if ".rows-" in p.name}


def _base(directory: Path) -> bytes:
    [data] = [v for k, v in _files(directory).items() if not k.endswith(".delta")]
    return data


def _has_delta(directory: Path) -> bool:
    return any(k.endswith(".delta") for k in _files(directory))


def _backend(tmp: Path) -> SQLiteBackend:
    return from_url(f"sqlite:///{tmp / 's.db'}", tmp)


def _read(tmp: Path) -> StateSnapshot:
    reader = _backend(tmp)
    try:
        return reader.read(STACK)
    finally:
        reader.close()


def _decoded(tmp: Path) -> StateSnapshot:
    """The stack as a full decode of the stored rows reads it (no row cache)."""
    saved = _files(tmp)
    for name in saved:
        (tmp / name).unlink()
    try:
        return _read(tmp)
    finally:
        for name, data in saved.items():
            (tmp / name).write_bytes(data)


def _apply(tmp: Path, change: dict[int, int], *, add: int = 0, drop: int = -1) -> StateSnapshot:
    """What an apply does: read (before and under the lock), write the next serial with
    the sizes of some rows changed (and a row added or dropped), unlock."""
    backend = _backend(tmp)
    try:
        backend.read(STACK)
        info = LockInfo.new("apply")
        backend.lock(STACK, info)
        snap = backend.read(STACK)
        resources = dict(snap.resources)
        for i, size in change.items():
            rid = ResourceId("local", "file", "f", i)
            resources[rid] = replace(resources[rid], attributes={
                **resources[rid].attributes, "size": size})
        if add:
            resources[_state(add).id] = _state(add)
        if drop >= 0:
            del resources[ResourceId("local", "file", "f", drop)]
        new = StateSnapshot(snap.lineage, snap.serial + 1, resources, snap.outputs)
        backend.write(STACK, new)
        backend.unlock(STACK, info.id)
        return new
    finally:
        backend.close()


def _first(tmp: Path, n: int) -> None:
    writer = _backend(tmp)
    writer.write(STACK, _snapshot(n))
    writer.close()


def test_a_write_of_a_few_rows_leaves_the_base_and_writes_a_delta(
        tmp_path: Path, count_inflated: Callable[[], list[object]]) -> None:
    _first(tmp_path, 300)
    base = _base(tmp_path)
    assert not _has_delta(tmp_path)
    wrote = _apply(tmp_path, {3: 7, 150: 8, 299: 9})
    assert _base(tmp_path) == base  # not rewritten
    assert _has_delta(tmp_path)
    [delta] = [p for p in tmp_path.iterdir() if p.name.endswith(".delta")]
    assert delta.stat().st_mode & 0o777 == 0o600
    assert delta.stat().st_size < len(base) // 20
    inflated = count_inflated()
    cached = _read(tmp_path)
    assert len(inflated) == 1  # the outputs only: every row came from base and delta
    assert cached == wrote == _decoded(tmp_path)
    assert list(cached.resources) == list(_decoded(tmp_path).resources)


def test_deltas_add_up_across_writes(tmp_path: Path,
                                     count_inflated: Callable[[], list[object]]) -> None:
    _first(tmp_path, 200)
    base = _base(tmp_path)
    wrote = _snapshot(200)
    for round_ in range(1, 6):
        wrote = _apply(tmp_path, {round_: round_ * 10, 0: round_})
    assert _base(tmp_path) == base
    inflated = count_inflated()
    cached = _read(tmp_path)
    assert len(inflated) == 1
    assert cached == wrote == _decoded(tmp_path)
    assert cached.resources[ResourceId("local", "file", "f", 3)].attributes["size"] == 30


@pytest.mark.parametrize("how", ["add", "drop"])
def test_a_row_added_or_dropped_writes_a_new_base(
        tmp_path: Path, count_inflated: Callable[[], list[object]], how: str) -> None:
    _first(tmp_path, 50)
    _apply(tmp_path, {1: 5})
    base = _base(tmp_path)
    wrote = _apply(tmp_path, {2: 6}, add=500 if how == "add" else 0,
                   drop=10 if how == "drop" else -1)
    assert _base(tmp_path) != base
    assert not _has_delta(tmp_path)  # it belonged to the old base
    inflated = count_inflated()
    cached = _read(tmp_path)
    assert len(inflated) == 1
    assert cached == wrote == _decoded(tmp_path)


def test_a_delta_past_its_limit_writes_a_new_base(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        count_inflated: Callable[[], list[object]]) -> None:
    monkeypatch.setattr(row_cache_mod, "_delta_most", lambda count: 4)
    _first(tmp_path, 40)
    base = _base(tmp_path)
    _apply(tmp_path, {1: 1, 2: 2, 3: 3})
    assert _base(tmp_path) == base
    wrote = _apply(tmp_path, {4: 4, 5: 5})  # 5 rows since the base
    assert _base(tmp_path) != base
    assert not _has_delta(tmp_path)
    inflated = count_inflated()
    cached = _read(tmp_path)
    assert len(inflated) == 1
    assert cached == wrote == _decoded(tmp_path)


def test_a_row_changed_between_a_read_and_a_write_is_not_cached(tmp_path: Path) -> None:
    """The writer keys the cache by the bytes it read and wrote, never by what it
    assumes is stored: a row changed behind its back (by hand, serial unchanged)
    after its read still misses, and is read as stored."""
    _first(tmp_path, 30)
    backend = _backend(tmp_path)
    snap = backend.read(STACK)
    rid = ResourceId("local", "file", "f", 7)
    by_hand = ResourceState(rid, {"path": "/elsewhere", "size": 9}, {}, {})
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("UPDATE resources SET doc = ? WHERE address = ?",
                     (pack(json.dumps(by_hand.to_json(), sort_keys=True)), str(rid)))
    conn.close()
    resources = dict(snap.resources)
    two = ResourceId("local", "file", "f", 2)
    resources[two] = replace(resources[two], attributes={"size": 1})
    backend.write(STACK, StateSnapshot(snap.lineage, 2, resources, snap.outputs))
    backend.close()
    read = _read(tmp_path)
    assert read.resources[rid] == by_hand
    assert read.resources[two].attributes == {"size": 1}
    assert read == _decoded(tmp_path)


def test_a_delta_of_another_base_is_not_used(tmp_path: Path) -> None:
    """Base and delta are written apart, by any writer: a delta made from a base that
    is no longer there (here: the base of another stack's state put in its place)
    is a miss, never applied to the wrong rows."""
    _first(tmp_path, 20)
    first_base = _base(tmp_path)
    wrote = _apply(tmp_path, {1: 11})
    [base_path] = [p for p in tmp_path.iterdir()
                   if ".rows-" in p.name and not p.name.endswith(".delta")]
    other = tmp_path / "other"
    other.mkdir()
    _first(other, 20)
    _apply(other, {1: 99})
    _apply(other, {0: 98}, add=77)  # a new base of other rows
    base_path.write_bytes(_base(other))
    assert _read(tmp_path) == wrote
    base_path.write_bytes(first_base)
    assert _read(tmp_path) == wrote


def test_a_damaged_delta_only_costs_a_decode(tmp_path: Path) -> None:
    _first(tmp_path, 20)
    wrote = _apply(tmp_path, {4: 44})
    [delta] = [p for p in tmp_path.iterdir() if p.name.endswith(".delta")]
    data = delta.read_bytes()
    for damaged in (data[:-7], data[:60], b"nonsense", data[:-2] + b"\x00\x01"):
        delta.write_bytes(damaged)
        assert _read(tmp_path) == wrote


def test_a_plain_read_after_a_write_writes_nothing(tmp_path: Path) -> None:
    _first(tmp_path, 20)
    _apply(tmp_path, {4: 44})
    files = _files(tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if ".rows-" in p.name}
    _read(tmp_path)
    assert _files(tmp_path) == files
    assert stamps == {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()
                      if ".rows-" in p.name}


def test_a_cache_that_cannot_be_written_costs_nothing_but_a_decode(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _first(tmp_path, 20)

    def refuse(*_args: object, **_kwargs: object) -> bool:
        raise OSError("read-only file system")

    monkeypatch.setattr(row_cache_mod, "write_private", refuse)
    wrote = _apply(tmp_path, {4: 44})
    wrote = _apply(tmp_path, {5: 55}, add=99)
    monkeypatch.undo()
    assert _read(tmp_path) == wrote == _decoded(tmp_path)


@pytest.mark.parametrize("looked_up", [0, 256])
def test_old_versions_keep_the_serial_they_were_born_at(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, looked_up: int) -> None:
    """A write finds the serials of the rows it replaces one by one (a few) or all at
    once (many): kept snapshots come out the same either way."""
    monkeypatch.setattr(sqlite_mod, "_LOOKED_UP", looked_up)
    _first(tmp_path, 20)
    snaps = [_snapshot(20), _apply(tmp_path, {1: 1}), _apply(tmp_path, {2: 2, 1: 3}),
             _apply(tmp_path, {1: 4}, drop=5)]
    backend = _backend(tmp_path)
    try:
        for serial, snap in enumerate(snaps, start=1):
            assert backend.snapshot(STACK, serial).resources == snap.resources
    finally:
        backend.close()


def test_a_state_under_another_id_is_written_as_before(tmp_path: Path) -> None:
    """An unchanged state is taken as it is only under its own id: put under another
    key, its row is stored under that key's address, as it always was."""
    _first(tmp_path, 3)
    backend = _backend(tmp_path)
    snap = backend.read(STACK)
    resources = dict(snap.resources)
    moved = ResourceId("local", "file", "g", 0)
    resources[moved] = resources.pop(ResourceId("local", "file", "f", 0))
    backend.write(STACK, StateSnapshot(snap.lineage, 2, resources, snap.outputs))
    backend.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        addresses = sorted(r[0] for r in conn.execute("SELECT address FROM resources"))
    conn.close()
    assert addresses == ["local:file/f[1]", "local:file/f[2]", "local:file/g[0]"]


def test_rows_decoded_from_json_are_kept_with_equal_values_as_one(tmp_path: Path) -> None:
    """A base left after a full decode (``_keep_missed``) makes each equal str value one
    object, so marshal stores it once: it reads back equal, with the digest a row
    holds three times one object."""
    _first(tmp_path, 10)
    for name in _files(tmp_path):
        (tmp_path / name).unlink()
    planner = _backend(tmp_path)
    planner.read(STACK)
    info = LockInfo.new("plan")
    planner.lock(STACK, info)
    planner.read(STACK)
    planner.unlock(STACK, info.id)
    planner.close()
    assert _files(tmp_path)
    snap = _read(tmp_path)
    assert snap == _decoded(tmp_path) == _snapshot(10)
    state = snap.resources[ResourceId("local", "file", "f", 4)]
    assert state.attributes["path"] is state.inputs["path"]
    assert state.inputs["content"]["$sha256"] == f"{4:064x}"
