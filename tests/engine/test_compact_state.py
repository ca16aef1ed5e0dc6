"""State keeps digests of long inputs, not whole file contents (issue 11)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from driftless.model import Action, ResourceState
from driftless.providers.compact import MARKER, compact_inputs, same_inputs
from engine_helpers import backend, engine, file_res, stack

BODY = "x" * 1000


def _db_size(tmp: Path) -> int:
    """state.db plus its WAL, after folding the WAL in (what an operator sees)."""
    db = tmp / "state.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = tmp / "state.db-wal"
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_compact_inputs_replaces_long_strings_at_any_depth() -> None:
    short = {"path": "/a", "n": 3, "nested": {"list": ["y" * 300, "z"]}, "content": BODY}
    out = compact_inputs(short)
    assert out["path"] == "/a" and out["n"] == 3 and out["nested"]["list"][1] == "z"
    assert set(out["content"]) == {MARKER} and set(out["nested"]["list"][0]) == {MARKER}
    assert same_inputs(short, out) and same_inputs(short, short)
    assert not same_inputs({**short, "content": BODY + "!"}, out)


def test_two_thousand_files_of_1kb_keep_state_small(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    files = [file_res(out / f"f{i}", BODY, name=f"f{i}") for i in range(2000)]
    desired = stack("app", files)
    eng = engine(tmp_path)
    assert eng.apply(eng.plan(desired), desired).ok
    # was 17.6 MB before compaction and before the cleared journal's pages were
    # given back; packed rows bring it to ~0.5 MB (10,000: tests/state/test_state_size.py)
    size = _db_size(tmp_path)
    assert size < 2_000_000, size
    assert not eng.plan(desired).has_changes(), "compacted inputs still mean no-op"


def test_changed_long_content_is_planned_as_update(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    desired = stack("s", [file_res(tmp_path / "f", BODY)])
    eng.apply(eng.plan(desired), desired)
    changed = stack("s", [file_res(tmp_path / "f", BODY + "!")])
    (change,) = eng.plan(changed).pending()
    assert change.action is Action.UPDATE


def test_state_with_full_contents_still_plans_no_op(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    res = file_res(tmp_path / "f", BODY)
    desired = stack("s", [res])
    eng.apply(eng.plan(desired), desired)
    be = backend(tmp_path)
    snap = be.read("s")
    old = {rid: replace(st, inputs=dict(res.properties)) for rid, st in snap.resources.items()}
    be.write("s", snap.next(old))
    assert not eng.plan(desired).has_changes()


def test_resource_no_longer_configured_refreshes_and_deletes(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    target = tmp_path / "gone"
    desired = stack("s", [file_res(target, BODY)])
    eng.apply(eng.plan(desired), desired)
    st: ResourceState = next(iter(backend(tmp_path).read("s").resources.values()))
    assert set(st.inputs["content"]) == {MARKER}
    empty = stack("s", [])
    eng.refresh(empty)
    report = eng.apply(eng.plan(empty), empty)
    assert report.ok and not target.exists()
