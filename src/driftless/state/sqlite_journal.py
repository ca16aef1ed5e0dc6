"""The SQLite state backend's write-ahead journal, and the JSON encoding of state rows.

I/O: every journal call is one committed transaction on the backend's
database (table ``journal``), so an intent survives a crash of the process
before the provider acts on it. Outcomes are stored packed (``packed``:
deflated JSON); the outcome of an applied resource is its state row, packed
once for the journal and the snapshot write (``RowDoc``). Intents are clear
JSON text: they live only until the apply's commit clears them, and none
holds a secret in clear (inputs are comparable, secrets as digests).
``SQLiteBackend.journal`` hands these out; the module is apart from the
backend only to keep each file readable.

Batches. A row per entry costs ~8 us to insert, update and delete again: 80 ms
of a 10,000-file first apply. So ``begin_many`` of at least ``BATCH_MIN``
intents stores them as one *batch row*, and ``finish_many`` the outcomes of
its entries as one *outcomes row* per call:

- the batch row: action ``*batch``, ``intent`` the JSON of its entries
  (``[address, action, intent]`` each; ``{"lock": ..., "entries": [...]}``
  when every intent records the same lock, written once), ``address`` the seq of its first
  entry (as text). Its entries are numbered from there up to the row's own
  seq (reserved: no other row takes one), so ``clear(upto)`` drops a batch
  only with its last entry, never half of one;
- an outcomes row: action ``*outcomes``, its seq that of the first entry it
  finishes (free in the batch's range), ``live`` each outcome framed as
  ``seq (8 bytes), ok (1), length (4), packed row`` (the packed bytes are
  stored as they are, so ``packed.inflate_all`` still finds every row).
  The outcome of a batch's last entry alone (whose seq is the batch row's)
  goes in the batch row's own ``live``.

``entries`` unfolds both into the same ``JournalEntry`` list a row per entry
gives. A driftless older than batches reads a batch row as a damaged entry
and refuses, naming the table: it never acts on half a journal.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from driftless.errors import StateError
from driftless.state.base import JournalEntry
from driftless.state.packed import RowDoc, pack, unpack
from driftless.state.rows import Fresh

if TYPE_CHECKING:
    from driftless.state.sqlite import SQLiteBackend

__all__ = ["BATCH_MIN", "SQLiteJournal", "dumps", "encode"]

# a begin_many of at least this many intents is stored as one batch row
BATCH_MIN = 256
_BATCH, _OUTCOMES = "*batch", "*outcomes"
_FRAME = struct.Struct(">qBI")  # an outcome in an outcomes row: seq, ok, packed length

# After a lost lock, an outcome lands only on an entry still unfinished (not yet
# recovered by the new holder).
_UNFINISHED = " AND finished = 0"


# Built once: ``json.dumps`` with options builds an encoder per call, and the apply
# encodes two documents per resource.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _one_shot(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """``encoder.encode``, same text, without what it sets up on every call (a C
    encoder object, a table of the containers seen, a closure): a quarter of
    encoding a state row. The C encoder is made once, without that table, so it
    holds no state and threads share it; a document it cannot finish for
    recursing too deep (a container holding itself) goes to ``encoder.encode``,
    which names the circular reference as it always did."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    run = make(None, encoder.default, json.encoder.encode_basestring_ascii, None,
               encoder.key_separator, encoder.item_separator, encoder.sort_keys,
               encoder.skipkeys, encoder.allow_nan)

    def encode(doc: Any) -> str:
        try:
            return "".join(run(doc, 0))
        except RecursionError:
            return encoder.encode(doc)

    return encode


_canonical = _one_shot(_CANONICAL)
_compact = _one_shot(_COMPACT)


def dumps(doc: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces): equal values store equal text."""
    return _canonical(doc)


def encode(what: str, doc: Any, *, canonical: bool = True) -> str:
    """``dumps``, or a ``StateError`` naming ``what`` when a value is not JSON.

    Journal entries need not be canonical (they are never compared as text),
    which spares the key sort on the apply's hot path.
    """
    try:
        return (_canonical if canonical else _compact)(doc)
    except (TypeError, ValueError) as exc:
        # The message names only the type, never the value (it may be secret).
        raise StateError(
            f"{what}: a value cannot be stored in state ({exc})",
            hint="providers must store secrets as digests and only JSON values "
            "(str, number, bool, null, list, mapping) in attributes",
        ) from None


def _encoded(encode_one: Callable[[Any], str], doc: Any, which: object, what: str) -> str:
    """``encode`` for the batch paths: the name ``what which`` is made only when
    ``doc`` fails, not for each of 10,000 documents that do not."""
    try:
        return encode_one(doc)
    except (TypeError, ValueError):
        pass
    return encode(f"{what} {which}", doc, canonical=encode_one is _canonical)


class SQLiteJournal:
    """The journal of one stack; every call is its own committed transaction."""

    # ``finish_many`` stores a ``RowDoc`` as its ``packed`` bytes when they are set:
    # the runner may have them made by a helper process meanwhile (``apply.runner``)
    takes_packed = True

    def __init__(self, backend: SQLiteBackend, stack: str) -> None:
        self._backend = backend
        self.stack = stack
        self._batches: list[tuple[int, int]] = []  # (first, last) seq of the batches begun
        self._hit: tuple[int, int] | None = None  # the batch ``_batch_of`` found last

    def begin(self, address: str, action: str, intent: Mapping[str, Any]) -> int:
        """Record an intent; committed (survives kill -9) before returning."""
        text = encode(f"journal intent for {address}", dict(intent))
        with self._backend._txn(immediate=True) as db:
            self._backend.fence(db, self.stack, f"the journal intent for {address}")
            cur = db.execute(
                "INSERT INTO journal (stack, address, action, intent, at) VALUES (?, ?, ?, ?, ?)",
                (self.stack, address, action, text, time.time()),
            )
            seq = cur.lastrowid
        assert seq is not None
        self._backend.began(self.stack, [seq])
        return seq

    def finish(self, seq: int, *, ok: bool, live: Mapping[str, Any] | None) -> None:
        """Record the outcome of intent ``seq``."""
        if self._batch_of(seq) is not None:
            self.finish_many([(seq, ok, live)])
            return
        text = None if live is None else pack(encode(f"journal entry {seq}", dict(live)))
        doing = f"the journal outcome of entry {seq}"
        with self._backend._txn(immediate=True) as db:
            lost = self._backend.fence(db, self.stack, doing, outcomes=[seq])
            cur = db.execute(
                "UPDATE journal SET finished = 1, ok = ?, live = ? WHERE seq = ? AND stack = ?"
                + _UNFINISHED * lost, (int(ok), text, seq, self.stack),
            )
            if lost and cur.rowcount != 1:
                raise self._gone(doing)
            if cur.rowcount != 1:
                raise StateError(
                    f"journal of stack '{self.stack}' has no entry {seq} to finish",
                    hint="it was cleared or belongs to another stack; this is a bug, "
                    "please report it",
                )

    def entries(self) -> list[JournalEntry]:
        """Entries not yet cleared, oldest first."""
        with self._backend._txn() as db:
            rows = db.execute(
                "SELECT seq, address, action, intent, finished, ok, live FROM journal "
                "WHERE stack = ? ORDER BY seq", (self.stack,),
            ).fetchall()
        try:
            return _unfolded(rows)
        except (ValueError, TypeError, struct.error) as exc:
            raise StateError(
                f"state database {self._backend.path}: the journal of stack '{self.stack}' "
                f"holds a damaged entry ({exc})",
                hint="look at it with sqlite3 (table journal); once the objects its "
                     "entries name are checked by hand, delete those rows") from None

    def begin_many(self, items: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        """Record several intents in one committed transaction (the applier's batches):
        a row each, or one batch row for ``BATCH_MIN`` or more (module docstring).

        Stored as clear JSON text, not packed: an intent lives until the apply's
        commit clears it, and deflating 10,000 of them cost more than they save.
        """
        if len(items) >= BATCH_MIN:
            return self._begin_batch(items)
        now = time.time()
        # encoded as they are inserted, so the texts of a 10,000-file batch are never
        # all held at once; one that is not JSON rolls the whole batch back
        rows = ((self.stack, a, act, _encoded(_compact, i, a, "journal intent for"), now)
                for a, act, i in items)
        with self._backend._txn(immediate=True) as db:
            self._backend.fence(db, self.stack, f"a batch of {len(items)} journal intent(s)")
            db.executemany(
                "INSERT INTO journal (stack, address, action, intent, at) VALUES (?, ?, ?, ?, ?)",
                rows)
            # We hold the write lock: the newest len(items) entries of this stack are ours,
            # numbered in insertion order.
            seqs = db.execute("SELECT seq FROM journal WHERE stack = ? ORDER BY seq DESC LIMIT ?",
                              (self.stack, len(items))).fetchall()
        out = [int(r[0]) for r in reversed(seqs)]
        self._backend.began(self.stack, out)
        return out

    def _begin_batch(self, items: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        """``begin_many`` as one batch row, its entries numbered in a range of seqs it
        reserves (the row takes the last)."""
        text = _batch_text(items)
        with self._backend._txn(immediate=True) as db:
            self._backend.fence(db, self.stack, f"a batch of {len(items)} journal intent(s)")
            # AUTOINCREMENT numbers after the highest seq ever used: so does the batch
            used = db.execute("SELECT max(seq) FROM (SELECT seq FROM sqlite_sequence WHERE "
                              "name = 'journal' UNION ALL SELECT max(seq) FROM journal)"
                              ).fetchone()[0]
            first = int(used or 0) + 1
            last = first + len(items) - 1
            db.execute("INSERT INTO journal (seq, stack, address, action, intent, at) "
                       "VALUES (?, ?, ?, ?, ?, ?)",
                       (last, self.stack, str(first), _BATCH, text, time.time()))
        self._batches.append((first, last))
        out = list(range(first, last + 1))
        self._backend.began(self.stack, out)
        return out

    def _batch_of(self, seq: int) -> tuple[int, int] | None:
        """The batch this journal began that numbers ``seq``, if any. Outcomes come
        in the order of their intents, so the batch of the one before is asked first
        (a 10,000-file apply: 10,000 questions, a dozen batches)."""
        hit = self._hit
        if hit is not None and hit[0] <= seq <= hit[1]:
            return hit
        for batch in self._batches:
            if batch[0] <= seq <= batch[1]:
                self._hit = batch
                return batch
        return None

    def finish_many(self, outcomes: Sequence[tuple[int, bool, Mapping[str, Any] | None]]) -> None:
        """Record several outcomes in one committed transaction: on their rows, or as
        an outcomes row per batch (module docstring)."""
        rows = []
        framed: dict[tuple[int, int], list[bytes]] = {}
        made: list[Fresh] = []
        for seq, ok, live in outcomes:
            packed = None
            if isinstance(live, RowDoc):
                # the state row itself: encoded canonical, so the commit reuses these bytes
                # (packed already when the runner's packing helper did it: ``takes_packed``)
                packed = live.packed
                if packed is None:
                    packed = pack(_encoded(_canonical, live, seq, "journal entry"))
                made.append((live.state, live["address"], packed))
            elif live is not None:
                packed = pack(_encoded(_compact, live, seq, "journal entry"))
            batch = self._batch_of(seq) if self._batches else None
            if batch is None:
                rows.append((int(ok), packed, seq, self.stack))
            else:
                framed.setdefault(batch, []).append(_frame(seq, ok, packed))
        doing = f"a batch of {len(outcomes)} journal outcome(s)"
        with self._backend._txn(immediate=True) as db:
            lost = self._backend.fence(db, self.stack, doing,
                                       outcomes=[seq for seq, _, _ in outcomes])
            if rows:
                cur = db.executemany(
                    "UPDATE journal SET finished = 1, ok = ?, live = ? WHERE seq = ? AND stack = ?"
                    + _UNFINISHED * lost, rows)
                if lost and cur.rowcount != len(rows):
                    raise self._gone(doing)
            for batch, frames in framed.items():
                self._store_outcomes(db, batch, frames, doing, lost=lost)
        self._backend.journaled(self.stack, made)

    def _store_outcomes(self, db: Any, batch: tuple[int, int], frames: list[bytes],
                        doing: str, *, lost: bool) -> None:
        """One outcomes row for entries of ``batch`` (module docstring); refused when the
        batch is gone (a new lock holder recovered it) or an entry is finished already."""
        first, last = batch
        at = min(_FRAME.unpack_from(f)[0] for f in frames)
        blob = b"".join(frames)
        if at == last:  # the last entry alone: its outcome goes on the batch row itself
            done = db.execute(f"UPDATE journal SET live = ? WHERE seq = ? AND stack = ? AND "
                              f"action = '{_BATCH}' AND live IS NULL",
                              (blob, last, self.stack)).rowcount == 1
        else:
            there = db.execute(f"SELECT 1 FROM journal WHERE seq = ? AND stack = ? AND "
                               f"action = '{_BATCH}'", (last, self.stack)).fetchone()
            done = there is not None and db.execute(
                "INSERT OR IGNORE INTO journal (seq, stack, address, action, intent, finished, "
                f"live, at) VALUES (?, ?, '', '{_OUTCOMES}', '', 1, ?, ?)",
                (at, self.stack, blob, time.time())).rowcount == 1
        if done:
            return
        if lost:
            raise self._gone(doing)
        raise StateError(
            f"journal of stack '{self.stack}' has no unfinished entries {first}..{last} "
            "to finish", hint="they were cleared or finished already; this is a bug, please "
            "report it")

    def _gone(self, doing: str) -> StateError:
        """Our lock was lost and the new holder already dealt with our entries."""
        return StateError(
            f"lock lost: the lock on stack '{self.stack}' passed to another run, which "
            f"already recovered our journal entries; {doing} was refused",
            hint="run plan again to see the stack's state")

    def clear(self, upto: int) -> None:
        """Drop entries up to and including ``upto``; a batch only whole, with every
        outcome of it (kept whole, with them, when ``upto`` falls inside it)."""
        with self._backend._txn(immediate=True) as db:
            self._backend.fence(db, self.stack, "the journal clear")
            db.execute(
                "DELETE FROM journal WHERE stack = ? AND seq <= ? AND NOT EXISTS ("
                f"SELECT 1 FROM journal AS b WHERE b.stack = journal.stack AND b.seq > ? "
                f"AND b.action = '{_BATCH}' AND CAST(b.address AS INTEGER) <= journal.seq)",
                (self.stack, upto, upto))
        self._backend.reclaim()


def _batch_text(items: Sequence[tuple[str, str, Mapping[str, Any]]]) -> str:
    """The JSON of a batch's entries: ``{"lock": ..., "entries": [...]}`` with the
    lock every intent records written once (the runner's intents share one), else
    the list of entries as they are; a ``StateError`` naming the first intent that
    is not JSON (encoded again one by one only then)."""
    lock = items[0][2].get("lock") if items else None
    doc: Any
    if lock is not None and all(i.get("lock") is lock for _, _, i in items):
        doc = {"lock": lock, "entries": [[a, act, {k: v for k, v in i.items() if k != "lock"}]
                                         for a, act, i in items]}
    else:
        doc = [[a, act, i if type(i) is dict else dict(i)] for a, act, i in items]
    try:
        return _compact(doc)
    except (TypeError, ValueError):
        pass
    for a, _act, i in items:
        _encoded(_compact, dict(i), a, "journal intent for")
    return encode("a batch of journal intents", doc, canonical=False)


def _frame(seq: int, ok: bool, packed: bytes | None) -> bytes:
    """One outcome in an outcomes row: seq, flags (1: ok, 2: has a row), the row."""
    body = packed or b""
    return _FRAME.pack(seq, int(ok) | (2 if packed is not None else 0), len(body)) + body


def _frames(blob: bytes) -> Iterator[tuple[int, bool, bytes | None]]:
    """The outcomes of an outcomes row; ``ValueError`` when it is cut short."""
    if not isinstance(blob, bytes):
        raise ValueError("an outcomes row holds no outcomes")
    view, at = memoryview(blob), 0
    while at < len(view):
        seq, flags, size = _FRAME.unpack_from(view, at)
        at += _FRAME.size
        if at + size > len(view):
            raise ValueError("an outcomes row is cut short")
        yield seq, bool(flags & 1), bytes(view[at:at + size]) if flags & 2 else None
        at += size


def _unfolded(rows: Sequence[Any]) -> list[JournalEntry]:
    """The entries of the journal's rows (batches and outcomes rows unfolded), by seq."""
    found: dict[int, JournalEntry] = {}
    outcomes: list[Any] = []
    for seq, address, action, intent, finished, ok, live in rows:
        if action == _BATCH:
            first, items, lock = int(address), json.loads(unpack(intent)), None
            if isinstance(items, dict):  # the lock written once for every entry
                items, lock = items["entries"], items["lock"]
            if not isinstance(items, list) or first + len(items) - 1 != seq:
                raise ValueError(f"batch {seq} does not hold the entries it numbers")
            for at, (entry_address, entry_action, doc) in enumerate(items, start=first):
                intent = dict(doc) if lock is None else {**doc, "lock": lock}
                found[at] = JournalEntry(at, str(entry_address), str(entry_action), intent)
            if live is not None:
                outcomes.append(live)
        elif action == _OUTCOMES:
            outcomes.append(live)
        else:
            found[seq] = JournalEntry(
                seq, address, action, json.loads(unpack(intent)), bool(finished), bool(ok),
                None if live is None else json.loads(unpack(live)))
    for blob in outcomes:
        for seq, ok, packed in _frames(blob):
            entry = found.get(seq)
            if entry is None:
                raise ValueError(f"an outcome for entry {seq}, which the journal does not hold")
            found[seq] = JournalEntry(seq, entry.address, entry.action, entry.intent, True, ok,
                                      None if packed is None else json.loads(unpack(packed)))
    return [found[seq] for seq in sorted(found)]

