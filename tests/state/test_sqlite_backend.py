"""SQLite-specific behaviour: URLs, damaged files, row-level writes, real processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from driftless.errors import ConfigError, StateConflict, StateError
from driftless.model import ResourceId, ResourceState, Sensitive, StateSnapshot
from driftless.state import SQLiteBackend, open_backend
from driftless.state.sqlite import from_url


def _snapshot(count: int) -> StateSnapshot:
    resources = {}
    for i in range(count):
        rid = ResourceId("local", "file", f"f{i}")
        resources[rid] = ResourceState(rid, {"path": f"/srv/f{i}"})
    return StateSnapshot.empty().next(resources)


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_relative_url_is_under_root_and_parents_are_created(tmp_path: Path) -> None:
    backend = open_backend("sqlite:///.driftless/state.db", root=tmp_path)
    assert isinstance(backend, SQLiteBackend)
    assert backend.path == tmp_path / ".driftless" / "state.db"
    backend.write("infra", _snapshot(1))
    assert (tmp_path / ".driftless" / "state.db").is_file()


def test_absolute_url_ignores_root(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "deep" / "s.db"
    backend = from_url(f"sqlite:///{target}", Path("/nonexistent-root"))
    assert backend.path == target
    backend.write("infra", _snapshot(1))
    assert target.is_file()


def test_reads_of_a_missing_state_file_create_nothing(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "state.db"
    backend = from_url(f"sqlite:///{target}", tmp_path)
    assert backend.read("infra").serial == 0
    assert backend.stacks() == [] and backend.lock_info("infra") is None
    assert backend.journal("infra").entries() == []
    assert not target.exists() and not target.parent.exists()


def test_another_applications_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StateError, match=r"not a driftless state database.*users"):
        from_url(f"sqlite:///{db}", tmp_path)
    assert db.read_bytes() == before
    assert not (tmp_path / "app.db-wal").exists()


def test_state_files_carry_the_driftless_application_id(tmp_path: Path) -> None:
    backend = from_url(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    backend.write("infra", _snapshot(1))
    backend.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x44524654
    conn.close()
    reopened = from_url(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    assert reopened.read("infra").serial == 1


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://host/x.db"])
def test_url_without_a_file_path_is_a_config_error(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="no usable file path") as caught:
        from_url(url, tmp_path)
    assert "sqlite:///.driftless/state.db" in (caught.value.hint or "")


def test_garbage_file_is_a_state_error_naming_the_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not sqlite at all\x00\xff" * 200)
    with pytest.raises(StateError) as caught:
        SQLiteBackend(db).read("infra")
    assert str(db) in str(caught.value) and "unusable" in str(caught.value)
    assert "state pull" in (caught.value.hint or "")


def test_directory_that_cannot_exist_is_a_state_error(tmp_path: Path) -> None:
    # Tests run as root, so chmod cannot make a directory unwritable; a
    # parent that is a regular file fails for root too.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    with pytest.raises(StateError, match="cannot create the state directory") as caught:
        SQLiteBackend(blocker / "sub" / "state.db").write("infra", _snapshot(1))
    assert str(blocker) in str(caught.value)
    assert "writable directory" in (caught.value.hint or "")


def test_a_directory_in_place_of_the_file_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").mkdir()
    with pytest.raises(StateError, match="unusable"):
        SQLiteBackend(tmp_path / "state.db")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SQLiteBackend(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="schema 99") as caught:
        SQLiteBackend(db)
    assert "upgrade driftless" in (caught.value.hint or "")


def _rows_by_serial(db: Path) -> dict[int, int]:
    with sqlite3.connect(db) as raw:
        return dict(raw.execute(
            "SELECT serial, count(*) FROM resources WHERE stack = 'infra' GROUP BY serial"
        ).fetchall())


def _moved(snap: StateSnapshot, names: range, *, drop: str = "") -> StateSnapshot:
    resources = {rid: rs for rid, rs in snap.resources.items() if rid.name != drop}
    for i in names:
        rid = ResourceId("local", "file", f"f{i}")
        resources[rid] = ResourceState(rid, {"path": "/moved"})
    return snap.next(resources)


def test_write_touches_only_changed_rows(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    backend = SQLiteBackend(db)
    backend.write("infra", _snapshot(200))
    backend.write("infra", _moved(backend.read("infra"), range(10), drop="f199"))
    assert _rows_by_serial(db) == {1: 189, 2: 10}


def test_a_client_without_cached_rows_diffs_against_the_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    first = _snapshot(50)
    SQLiteBackend(db).write("infra", first)
    SQLiteBackend(db).write("infra", _moved(first, range(3)))
    assert _rows_by_serial(db) == {1: 47, 2: 3}
    assert SQLiteBackend(db).read("infra") == _moved(first, range(3))


def test_an_equal_row_encoded_again_is_not_written_again(tmp_path: Path) -> None:
    """A row is known by its stored bytes, not its text: a state that is a new object
    but the same row (a read by another client, a copy) leaves the stored row alone."""
    db = tmp_path / "state.db"
    SQLiteBackend(db).write("infra", _snapshot(20))
    client = SQLiteBackend(db)
    snap = client.read("infra")
    held = client.stored_rows("infra")
    assert held and all(isinstance(stored, bytes) for _, stored in held.values())
    copies = {rid: ResourceState(rid, dict(rs.attributes)) for rid, rs in snap.resources.items()}
    copies[ResourceId("local", "file", "f3")] = ResourceState(
        ResourceId("local", "file", "f3"), {"path": "/changed"})
    client.write("infra", snap.next(copies))
    assert _rows_by_serial(db) == {1: 19, 2: 1}
    assert SQLiteBackend(db).read("infra").resources == copies


def test_a_row_an_older_version_stored_in_clear_is_compared_by_its_text(
        tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    first = _snapshot(5)
    SQLiteBackend(db).write("infra", first)
    with sqlite3.connect(db) as raw:  # as a version before packed rows wrote them
        for (address, text) in [(str(rid), json.dumps(rs.to_json(), sort_keys=True,
                                                      separators=(",", ":")))
                                for rid, rs in first.resources.items()]:
            raw.execute("UPDATE resources SET doc = ? WHERE address = ?", (text, address))
    client = SQLiteBackend(db)
    snap = client.read("infra")
    assert all(isinstance(stored, str) for _, stored in client.stored_rows("infra").values())
    copies = {rid: ResourceState(rid, dict(rs.attributes)) for rid, rs in snap.resources.items()}
    moved = ResourceId("local", "file", "f0")
    copies[moved] = ResourceState(moved, {"path": "/moved"})
    client.write("infra", snap.next(copies))
    assert _rows_by_serial(db) == {1: 4, 2: 1}
    assert SQLiteBackend(db).read("infra").resources == copies


def test_secret_values_are_refused_without_leaking(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "state.db")
    rid = ResourceId("local", "env_file", "app")
    snap = StateSnapshot.empty().next({rid: ResourceState(rid, {"token": Sensitive("hunter2")})})
    with pytest.raises(StateError) as caught:
        backend.write("infra", snap)
    assert "local:env_file/app" in str(caught.value) and "hunter2" not in str(caught.value)
    assert "digest" in (caught.value.hint or "")
    assert backend.stacks() == [], "a refused write stores nothing"


def test_journal_from_a_thread_pool_keeps_every_entry(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "state.db")
    journal = backend.journal("infra")

    def apply_one(i: int) -> int:
        seq = journal.begin(f"local:file/f{i}", "create", {"i": i})
        journal.finish(seq, ok=True, live={"i": i})
        return seq

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = list(pool.map(apply_one, range(64)))
    entries = backend.journal("infra").entries()
    assert sorted(seqs) == [e.seq for e in entries] and len(set(seqs)) == 64
    assert all(e.finished and e.ok and e.live == e.intent for e in entries)
    backend.close()


def test_journal_begin_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    result = _run(
        """
        import os, signal, sys
        from pathlib import Path
        from driftless.state import SQLiteBackend
        journal = SQLiteBackend(Path(sys.argv[1])).journal("infra")
        journal.finish(journal.begin("local:file/done", "create", {}), ok=True, live=None)
        journal.begin("local:file/motd", "update", {"content": "hi"})
        os.kill(os.getpid(), signal.SIGKILL)
        """,
        str(db),
    )
    assert result.returncode == -9, result.stderr
    entries = SQLiteBackend(db).journal("infra").entries()
    assert [(e.address, e.finished) for e in entries] == [
        ("local:file/done", True), ("local:file/motd", False),
    ]
    assert dict(entries[1].intent) == {"content": "hi"}


def test_two_processes_racing_for_the_lock_have_one_winner(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SQLiteBackend(db).close()  # create the file first; the race is for the lock
    script = """
        import sys, time
        from pathlib import Path
        from driftless.errors import LockHeld
        from driftless.model import LockInfo
        from driftless.state import SQLiteBackend
        backend = SQLiteBackend(Path(sys.argv[1]))
        start = float(sys.argv[2])
        time.sleep(max(0.0, start - time.time()))
        try:
            backend.lock("infra", LockInfo.new("apply"))
            print("won")
        except LockHeld as exc:
            print("held", exc.info.pid)
        """
    start = str(time.time() + 1.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), str(db), start],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    lines = sorted(out.strip() for out, _ in outputs)
    assert lines[1] == "won" and lines[0].startswith("held "), outputs
    holder = SQLiteBackend(db).lock_info("infra")
    winner = procs[[o.strip() for o, _ in outputs].index("won")]
    assert holder is not None and holder.pid == winner.pid
    assert lines[0] == f"held {winner.pid}", "the loser must see the winner"


def test_two_runs_creating_one_stack_get_a_re_run_message(tmp_path: Path) -> None:
    one, two = SQLiteBackend(tmp_path / "state.db"), SQLiteBackend(tmp_path / "state.db")
    mine, theirs = one.read("infra").next(), two.read("infra").next()
    one.write("infra", mine)
    with pytest.raises(StateConflict, match=r"since it was read \(serial 0 → 1\)") as caught:
        two.write("infra", theirs)
    assert "re-run plan" in (caught.value.hint or "")
    assert two.read("infra").lineage == mine.lineage


def test_a_damaged_row_is_a_state_error_naming_stack_and_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SQLiteBackend(db).write("infra", _snapshot(3))
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE resources SET doc = '{\"address\": ' WHERE address = 'local:file/f1'")
    with pytest.raises(StateError, match="stack 'infra' holds a damaged row") as caught:
        SQLiteBackend(db).read("infra")
    assert str(db) in str(caught.value) and "state push" in (caught.value.hint or "")


def test_reading_an_existing_state_file_writes_nothing(tmp_path: Path) -> None:
    tmp_path = tmp_path / "state"
    tmp_path.mkdir()
    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    writer.write("infra", _snapshot(1))
    writer.close()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    reader = from_url(f"sqlite:///{db}", tmp_path)
    assert reader.read("infra").serial == 1 and reader.stacks() == ["infra"]
    reader.close()
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before


def _pragma(db: Path, name: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def test_a_new_state_file_has_16_kb_pages_and_checkpoints_by_bytes(tmp_path: Path) -> None:
    """Large pages keep an apply's big rows (batches of intents, groups of outcomes)
    out of long overflow chains; the automatic checkpoint is set in bytes, so it
    comes at the same WAL size whatever the page size."""
    from driftless.state import sqlite as state_sqlite

    backend = from_url(f"sqlite:///{tmp_path / 's.db'}", tmp_path)
    backend.write("infra", _snapshot(3))
    conn = backend._conn()
    assert int(conn.execute("PRAGMA page_size").fetchone()[0]) == state_sqlite.PAGE_BYTES
    assert int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == \
        state_sqlite.WAL_CHECKPOINT_BYTES // state_sqlite.PAGE_BYTES
    assert int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) == 2  # incremental
    backend.close()
    assert _pragma(tmp_path / "s.db", "page_size") == state_sqlite.PAGE_BYTES


def test_an_older_state_file_keeps_its_4_kb_pages(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A file made with SQLite's 4 KB pages (before PAGE_BYTES) is read and written
    as it is: WAL mode cannot change a page size, and nothing needs it changed."""
    from driftless.state import sqlite as state_sqlite

    old = tmp_path / "old.db"
    with monkeypatch.context() as patched:
        patched.setattr(state_sqlite, "PAGE_BYTES", 4096)
        made = from_url(f"sqlite:///{old}", tmp_path)
        made.write("infra", _snapshot(3))
        made.close()
    assert state_sqlite.PAGE_BYTES == 16 << 10
    assert _pragma(old, "page_size") == 4096
    backend = from_url(f"sqlite:///{old}", tmp_path)
    conn = backend._conn()
    assert int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == \
        state_sqlite.WAL_CHECKPOINT_BYTES // 4096
    snap = backend.read("infra")
    assert len(snap.resources) == 3
    backend.write("infra", snap.next(dict(_snapshot(5).resources)))
    assert len(backend.read("infra").resources) == 5
    backend.close()
    assert _pragma(old, "page_size") == 4096


_KILLED_IN_A_TRANSACTION = r"""
import os, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA page_size = 16384")
db.execute("PRAGMA auto_vacuum = INCREMENTAL")
if sys.argv[2] == "later":  # a first transaction that did commit: driftless's own id
    db.execute("PRAGMA application_id = 1146242644")
db.execute("PRAGMA cache_size = 1")  # pages spill to the file before the commit
db.execute("BEGIN")
db.execute("CREATE TABLE t (x)")
for _ in range(500):
    db.execute("INSERT INTO t VALUES (?)", ("x" * 500,))
os._exit(9)  # killed: no commit, no rollback, the journal stays hot
"""


@pytest.mark.parametrize("when", ["first", "later"])
def test_a_state_file_whose_creation_was_killed_is_rolled_back_and_used(
        tmp_path: Path, when: str) -> None:
    """kill -9 while a new state file is made (its first transactions use a rollback
    journal, before the switch to WAL) leaves a hot journal, which a read-only look
    may not play back ("attempt to write a readonly database"): the next run rolls it
    back, as SQLite does on any writable open, and goes on with the file."""
    db = tmp_path / "state.db"
    killed = _run(_KILLED_IN_A_TRANSACTION, str(db), when)
    assert killed.returncode == 9, killed.stderr
    assert Path(f"{db}-journal").stat().st_size > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        probe = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            probe.execute("PRAGMA application_id").fetchone()
        finally:
            probe.close()
    backend = from_url(f"sqlite:///{db}", tmp_path)
    backend.write("infra", _snapshot(2))
    assert len(backend.read("infra").resources) == 2
    backend.close()
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "t" not in tables and "resources" in tables  # the killed transaction never was
    assert not Path(f"{db}-journal").exists()
