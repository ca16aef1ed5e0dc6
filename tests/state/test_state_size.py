"""State stays small: 10,000 local files of 1 KB take under 5 MB of SQLite state.

Rows are stored packed (deflated canonical JSON, ``state.packed``), long
inputs as digests, and the cleared journal's pages are given back. The
apply goes through the real engine, local provider and SQLite backend. Old
state files (schema 1, rows as clear JSON text) still read and are written
on, so upgrading needs no migration step.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from driftless.errors import StateError
from driftless.model import LockInfo
from driftless.state.sqlite import APPLICATION_ID, SQLiteBackend
from engine_helpers import engine, file_res, stack

BODY = "x" * 1000
LIMIT = 5_000_000


def _on_disk(db: Path) -> int:
    """The state file and whatever WAL is left, as an operator's ``du`` sees them."""
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


def test_ten_thousand_files_of_1kb_take_under_5_mb(tmp_path: Path) -> None:
    out = tmp_path / "srv" / "www" / "assets"
    out.mkdir(parents=True)
    files = [file_res(out / f"file-{i:05d}.txt", BODY, name=f"file_{i:05d}")
             for i in range(10_000)]
    desired = stack("site", files)
    eng = engine(tmp_path)
    started = time.monotonic()
    assert eng.apply(eng.plan(desired), desired).ok
    eng.backend.close()
    size = _on_disk(tmp_path / "state.db")
    print(f"10,000 files of 1 KB: state {size} bytes ({size / 10_000:.0f} per resource), "
          f"apply {time.monotonic() - started:.1f}s")
    assert size < LIMIT, size  # was 7.2 MB with rows of clear JSON
    # each row holds its path twice (compressed): the budget grows with the temp dir's
    # length, which differs between runs (a fresh clone's pytest paths are longer)
    per_path = len(str(out / "file-00000.txt"))
    assert size / 10_000 < 200 + 2 * per_path, "packed rows cost ~220 bytes + the path"
    assert not engine(tmp_path).plan(desired).has_changes(), "packed rows still plan no-op"


def _v1_file(db: Path, row: dict[str, object]) -> None:
    """A state file as driftless wrote it before packing and snapshots (schema 1)."""
    con = sqlite3.connect(db)
    con.executescript("""
        CREATE TABLE stacks (name TEXT PRIMARY KEY, lineage TEXT NOT NULL,
            serial INTEGER NOT NULL, outputs TEXT NOT NULL);
        CREATE TABLE resources (stack TEXT NOT NULL, address TEXT NOT NULL, doc TEXT NOT NULL,
            serial INTEGER NOT NULL, PRIMARY KEY (stack, address)) WITHOUT ROWID;
        CREATE TABLE locks (stack TEXT PRIMARY KEY, id TEXT NOT NULL, info TEXT NOT NULL,
            lease REAL NOT NULL);
        CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, stack TEXT NOT NULL,
            address TEXT NOT NULL, action TEXT NOT NULL, intent TEXT NOT NULL,
            finished INTEGER NOT NULL DEFAULT 0, ok INTEGER NOT NULL DEFAULT 0,
            live TEXT, at REAL NOT NULL);
        CREATE INDEX journal_by_stack ON journal (stack, seq);
        PRAGMA user_version = 1;
        PRAGMA application_id = {APPLICATION_ID};
    """.replace("{APPLICATION_ID}", str(APPLICATION_ID)))
    con.execute("INSERT INTO stacks VALUES ('web', 'lin-1', 4, ?)", (json.dumps({"u": 1}),))
    con.execute("INSERT INTO resources VALUES ('web', ?, ?, 3)",
                (row["address"], json.dumps(row, sort_keys=True, separators=(",", ":"))))
    con.execute("INSERT INTO journal (stack, address, action, intent, at) "
                "VALUES ('web', 'local:file/a', 'create', ?, 0)", (json.dumps({"p": "/a"}),))
    con.commit()
    con.close()


def test_a_schema_1_state_file_still_reads_and_takes_packed_writes(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    row = {"address": "local:file/a", "attributes": {"path": "/a"}, "inputs": {"path": "/a"},
           "private": {}, "protect": False, "depends_on": []}
    _v1_file(db, row)
    backend = SQLiteBackend(db)
    snap = backend.read("web")
    assert (snap.lineage, snap.serial, dict(snap.outputs)) == ("lin-1", 4, {"u": 1})
    ((rid, st),) = snap.resources.items()
    assert str(rid) == "local:file/a" and dict(st.attributes) == {"path": "/a"}
    (entry,) = backend.journal("web").entries()
    assert dict(entry.intent) == {"p": "/a"}, "an unfinished entry of the old file reads"

    info = LockInfo.new("apply")
    backend.lock("web", info)
    backend.write("web", snap.next(outputs={"u": 2}))
    backend.unlock("web", info.id)
    backend.close()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 3
    (doc,) = con.execute("SELECT doc FROM resources").fetchone()
    assert isinstance(doc, str), "an unchanged old row is left as it was"
    con.close()
    again = SQLiteBackend(db)
    assert again.read("web") == snap.next(outputs={"u": 2})
    assert [h.serial for h in again.history("web")] == [5]
    assert again.snapshot("web", 5) == again.read("web")
    again.close()


def test_a_newer_schema_is_refused_by_name(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SQLiteBackend(db).write("web", SQLiteBackend(db).read("web").next())
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(StateError, match="schema 99") as caught:
        SQLiteBackend(db).read("web")
    assert "upgrade driftless" in (caught.value.hint or "")


def test_a_schema_2_file_keeps_its_current_snapshot_and_drops_its_old_row_table(
        tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    backend = SQLiteBackend(db)
    snap = backend.read("web")
    for n in range(3):
        snap = snap.next(outputs={"n": n})
        backend.write("web", snap)
    backend.close()
    con = sqlite3.connect(db)  # as schema 2 left it: old rows one by one in their own table
    con.executescript("""
        CREATE TABLE resource_versions (stack TEXT NOT NULL, address TEXT NOT NULL,
            born INTEGER NOT NULL, died INTEGER NOT NULL, doc BLOB NOT NULL,
            PRIMARY KEY (stack, died, address)) WITHOUT ROWID;
        DROP TABLE snapshot_rows;
        PRAGMA user_version = 2;
    """)
    con.close()
    again = SQLiteBackend(db)
    assert again.read("web") == snap
    assert [h.serial for h in again.history("web")] == [3]
    again.close()
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert con.execute("PRAGMA user_version").fetchone()[0] == 3
    con.close()
    assert "resource_versions" not in tables and "snapshot_rows" in tables
