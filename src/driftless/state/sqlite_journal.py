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
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from driftless.errors import StateError
from driftless.state.base import JournalEntry
from driftless.state.packed import RowDoc, pack, unpack
from driftless.state.rows import Fresh

if TYPE_CHECKING:
    from driftless.state.sqlite import SQLiteBackend

__all__ = ["SQLiteJournal", "dumps", "encode"]

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
            return [
                JournalEntry(
                    seq, address, action, json.loads(unpack(intent)), bool(finished),
                    bool(ok), None if live is None else json.loads(unpack(live)),
                )
                for seq, address, action, intent, finished, ok, live in rows
            ]
        except ValueError as exc:
            raise StateError(
                f"state database {self._backend.path}: the journal of stack '{self.stack}' "
                f"holds a damaged entry ({exc})",
                hint="look at it with sqlite3 (table journal); once the objects its "
                     "entries name are checked by hand, delete those rows") from None

    def begin_many(self, items: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        """Record several intents in one committed transaction (the applier's batches).

        Stored as clear JSON text, not packed: an intent lives until the apply's
        commit clears it, and deflating 10,000 of them cost more than they save.
        """
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

    def finish_many(self, outcomes: Sequence[tuple[int, bool, Mapping[str, Any] | None]]) -> None:
        """Record several outcomes in one committed transaction."""
        rows = []
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
            rows.append((int(ok), packed, seq, self.stack))
        doing = f"a batch of {len(rows)} journal outcome(s)"
        with self._backend._txn(immediate=True) as db:
            lost = self._backend.fence(db, self.stack, doing,
                                       outcomes=[seq for seq, _, _ in outcomes])
            cur = db.executemany(
                "UPDATE journal SET finished = 1, ok = ?, live = ? WHERE seq = ? AND stack = ?"
                + _UNFINISHED * lost, rows)
            if lost and cur.rowcount != len(rows):
                raise self._gone(doing)
        self._backend.journaled(self.stack, made)

    def _gone(self, doing: str) -> StateError:
        """Our lock was lost and the new holder already dealt with our entries."""
        return StateError(
            f"lock lost: the lock on stack '{self.stack}' passed to another run, which "
            f"already recovered our journal entries; {doing} was refused",
            hint="run plan again to see the stack's state")

    def clear(self, upto: int) -> None:
        """Drop entries up to and including ``upto``."""
        with self._backend._txn(immediate=True) as db:
            self._backend.fence(db, self.stack, "the journal clear")
            db.execute("DELETE FROM journal WHERE stack = ? AND seq <= ?", (self.stack, upto))
        self._backend.reclaim()
