"""The SQLite journal's batches (``state.sqlite_journal``): a large ``begin_many``
is one row and each ``finish_many`` of it one more, yet ``entries`` gives exactly
what a row per entry gives, a crash leaves what recovery needs, and a lost lock
or a damaged row is refused as for single entries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from driftless.errors import StateError
from driftless.model import LockInfo, ResourceId, ResourceState
from driftless.state import SQLiteBackend
from driftless.state.packed import RowDoc
from driftless.state.sqlite_journal import BATCH_MIN

N = BATCH_MIN + 44


def _items(n: int, tag: str = "") -> list[tuple[str, str, dict[str, object]]]:
    return [(f"local:file/f[{i}]", "create" if i % 3 else "update",
             {"inputs": {"path": f"/srv/{tag}f{i}", "n": i}, "prior": None}) for i in range(n)]


def _row(i: int) -> RowDoc:
    rid = ResourceId("local", "file", "f", i)
    return RowDoc(ResourceState(rid, {"path": f"/srv/f{i}", "size": i}, {"ino": i},
                                {"path": f"/srv/f{i}"}))


def _rows(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT seq, action FROM journal ORDER BY seq").fetchall()


def test_a_batch_is_one_row_and_reads_back_as_its_entries(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "state.db")
    journal = backend.journal("app")
    before = journal.begin("local:file/first", "create", {"n": -1})
    items = _items(N)
    seqs = journal.begin_many(items)
    assert seqs == list(range(before + 1, before + 1 + N))
    assert [action for _, action in _rows(tmp_path / "state.db")] == ["create", "*batch"]
    entries = SQLiteBackend(tmp_path / "state.db").journal("app").entries()  # another client
    assert [(e.seq, e.address, e.action, e.intent) for e in entries[1:]] == [
        (s, a, act, i) for s, (a, act, i) in zip(seqs, items, strict=True)]
    assert not any(e.finished for e in entries)
    after = journal.begin("local:file/next", "create", {"n": -2})
    assert after > seqs[-1]  # numbered past the batch's reserved range


def test_outcomes_of_a_batch_read_back_as_finished_entries(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "state.db")
    journal = backend.journal("app")
    seqs = journal.begin_many(_items(N))
    journal.finish_many([(s, True, _row(i)) for i, s in enumerate(seqs[:100])])
    journal.finish_many([(seqs[100], False, None), (seqs[101], True, None)])
    journal.finish(seqs[-1], ok=True, live=_row(N - 1))  # the last alone: on the batch row
    journal.finish(seqs[150], ok=True, live={"address": "local:file/f[150]"})
    # the batch row (holding its last entry's outcome) and an outcomes row per call
    assert [a for _, a in _rows(tmp_path / "state.db")] == ["*outcomes"] * 3 + ["*batch"]
    entries = {e.seq: e for e in SQLiteBackend(tmp_path / "state.db").journal("app").entries()}
    assert len(entries) == N
    first = entries[seqs[0]]
    assert (first.finished, first.ok, first.live) == (True, True, dict(_row(0)))
    assert (entries[seqs[100]].finished, entries[seqs[100]].ok) == (True, False)
    assert entries[seqs[101]].live is None and entries[seqs[101]].finished
    assert entries[seqs[-1]].live == dict(_row(N - 1))
    assert entries[seqs[150]].live == {"address": "local:file/f[150]"}
    assert [s for s, e in entries.items() if not e.finished] == [
        s for s in seqs[102:-1] if s != seqs[150]]


def test_an_entry_is_finished_once(tmp_path: Path) -> None:
    journal = SQLiteBackend(tmp_path / "state.db").journal("app")
    seqs = journal.begin_many(_items(N))
    journal.finish_many([(seqs[5], True, None)])
    with pytest.raises(StateError, match="no unfinished entries"):
        journal.finish_many([(seqs[5], True, None)])
    journal.finish(seqs[-1], ok=True, live=None)
    with pytest.raises(StateError, match="no unfinished entries"):
        journal.finish(seqs[-1], ok=True, live=None)


def test_clear_drops_a_batch_with_its_outcomes_and_never_half_of_one(tmp_path: Path) -> None:
    journal = SQLiteBackend(tmp_path / "state.db").journal("app")
    seqs = journal.begin_many(_items(N))
    journal.finish_many([(s, True, None) for s in seqs[:10]])
    journal.clear(seqs[20])  # inside the batch: it stays whole, outcomes and all
    left = journal.entries()
    assert [e.seq for e in left] == seqs
    assert [e.finished for e in left] == [True] * 10 + [False] * (N - 10)
    journal.clear(seqs[-1])
    assert journal.entries() == [] and _rows(tmp_path / "state.db") == []


def test_an_intent_that_is_not_json_fails_the_batch_naming_it(tmp_path: Path) -> None:
    journal = SQLiteBackend(tmp_path / "state.db").journal("app")
    items = _items(N)
    items[7] = (items[7][0], "create", {"inputs": {"bad": object()}})
    with pytest.raises(StateError, match=r"journal intent for local:file/f\[7\]"):
        journal.begin_many(items)
    assert journal.entries() == []


def test_a_damaged_outcomes_row_is_refused_naming_the_table(tmp_path: Path) -> None:
    journal = SQLiteBackend(tmp_path / "state.db").journal("app")
    seqs = journal.begin_many(_items(N))
    journal.finish_many([(s, True, _row(i)) for i, s in enumerate(seqs[:3])])
    with sqlite3.connect(tmp_path / "state.db") as con:
        con.execute("UPDATE journal SET live = substr(live, 1, 20) WHERE action = '*outcomes'")
    with pytest.raises(StateError, match="journal"):
        SQLiteBackend(tmp_path / "state.db").journal("app").entries()


def test_after_a_lost_lock_an_outcome_lands_until_the_new_holder_recovered_it(
        tmp_path: Path) -> None:
    one, two = SQLiteBackend(tmp_path / "state.db"), SQLiteBackend(tmp_path / "state.db")
    mine = LockInfo.new("apply")
    one.lock("app", mine)
    journal = one.journal("app")
    seqs = journal.begin_many(_items(N))
    two.unlock("app", mine.id, force=True)
    journal.finish_many([(s, True, None) for s in seqs[:50]])  # its side effects happened
    with pytest.raises(StateError, match="lock lost"):
        journal.begin_many(_items(N, "again-"))
    entries = two.journal("app").entries()
    assert sum(e.finished for e in entries) == 50
    theirs = LockInfo.new("apply")
    two.lock("app", theirs)
    two.journal("app").clear(entries[-1].seq)  # the new holder recovered them all
    with pytest.raises(StateError, match="lock lost"):
        journal.finish_many([(s, True, None) for s in seqs[50:60]])
    assert two.journal("app").entries() == []


def test_a_small_begin_many_keeps_a_row_per_entry(tmp_path: Path) -> None:
    journal = SQLiteBackend(tmp_path / "state.db").journal("app")
    seqs = journal.begin_many(_items(BATCH_MIN - 1))
    assert len(_rows(tmp_path / "state.db")) == BATCH_MIN - 1
    journal.finish_many([(s, True, None) for s in seqs])
    assert all(e.finished for e in journal.entries())


def test_a_lock_every_intent_shares_is_written_once_and_read_back_in_each(
        tmp_path: Path) -> None:
    lock = {"id": "f" * 32, "who": "me@host", "pid": 7, "created": 1.5, "expires": 61.5}
    items = [(a, act, {**i, "lock": lock}) for a, act, i in _items(N)]
    journal = SQLiteBackend(tmp_path / "state.db").journal("app")
    journal.begin_many(items)
    with sqlite3.connect(tmp_path / "state.db") as con:
        (text,) = con.execute("SELECT intent FROM journal").fetchone()
    assert text.count("f" * 32) == 1
    entries = SQLiteBackend(tmp_path / "state.db").journal("app").entries()
    assert [e.intent for e in entries] == [i for _, _, i in items]
