"""The S3 state backend's journal: one object per side effect.

Entries live at ``<key>/<stack>.journal/<seq>.json`` (seq zero-padded so
keys sort in order). ``begin`` returns only after S3 acknowledged the put,
so the intent is durable before the provider acts; the put uses
``If-None-Match: *`` so two journals can never claim the same number.
``clear`` records the next free number in ``head.json`` before deleting,
so numbers keep growing after the entries they follow are gone.
Every write first calls the backend's ``fence`` (refusing "lock lost" when
the lock we took is gone); an intent is fenced again after its put, so a
side effect never starts on a lease found lost. Network I/O only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from driftless.errors import StateError
from driftless.state.base import JournalEntry
from driftless.state.s3_store import PreconditionFailed, S3Store

__all__ = ["S3Journal"]

_HEAD = "head.json"


def _entry_json(entry: JournalEntry) -> bytes:
    return json.dumps({
        "seq": entry.seq, "address": entry.address, "action": entry.action,
        "intent": dict(entry.intent), "finished": entry.finished, "ok": entry.ok,
        "live": None if entry.live is None else dict(entry.live),
    }, sort_keys=True, default=str).encode()


def _entry_from(raw: bytes) -> JournalEntry:
    doc = json.loads(raw)
    return JournalEntry(
        int(doc["seq"]), str(doc["address"]), str(doc["action"]), doc.get("intent", {}),
        bool(doc.get("finished")), bool(doc.get("ok")), doc.get("live"),
    )


class S3Journal:
    """Write-ahead log of one stack's side effects, as S3 objects."""

    def __init__(self, store: S3Store, stack: str, *,
                 fence: Callable[[str], None] | None = None) -> None:
        self._store = store
        self._fence = fence or (lambda doing: None)
        self._dir = f"{stack}.journal/"
        self._mu = threading.Lock()  # the engine calls begin/finish from worker threads
        self._next: int | None = None
        # Entries this journal began, with the ETag of their put (see ``finish``).
        self._begun: dict[int, tuple[JournalEntry, str]] = {}

    def _name(self, seq: int) -> str:
        return f"{self._dir}{seq:016d}.json"

    def _seqs(self) -> list[int]:
        out = []
        for name in self._store.names(self._dir):
            stem = name[len(self._dir):].removesuffix(".json")
            if stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def _head(self) -> tuple[int, str | None]:
        got = self._store.get(self._dir + _HEAD)
        if got is None:
            return 1, None
        return int(json.loads(got[0])["next"]), got[1]

    def _first_free(self) -> int:
        seqs = self._seqs()
        return max(self._head()[0], seqs[-1] + 1 if seqs else 1)

    def begin(self, address: str, action: str, intent: Mapping[str, Any]) -> int:
        """Record an intent durably (acknowledged by S3); its sequence number."""
        self._fence(f"the journal intent for {address}")
        with self._mu:
            if self._next is None:
                self._next = self._first_free()
            while True:
                entry = JournalEntry(self._next, address, action, dict(intent))
                self._next += 1
                try:
                    etag = self._store.put(self._name(entry.seq), _entry_json(entry),
                                           if_absent=True)
                except PreconditionFailed:
                    continue  # another journal took this number: use the next one
                self._begun[entry.seq] = (entry, etag)
                break
        # The put may have landed after the lease passed on: no side effect then.
        self._fence(f"the side effect of journal entry {entry.seq} ({address})")
        return entry.seq

    def finish(self, seq: int, *, ok: bool, live: Mapping[str, Any] | None) -> None:
        """Record the outcome of intent ``seq`` durably.

        The outcome of an intent this journal began is recorded even after the
        lock was lost (its side effect happened: the next run must know), but
        only over that very entry (``If-Match`` on the ETag of our put), never
        over one the new holder already recovered. The next intent is refused.
        """
        doing = f"the journal outcome of entry {seq}"
        with self._mu:
            mine = self._begun.pop(seq, None)
        try:
            self._fence(doing)
        except StateError as exc:
            if mine is None or "lock lost" not in str(exc):
                raise
            self._finish_lost(mine, ok, live, doing)
            return
        entry = mine[0] if mine is not None else None
        if entry is None:
            got = self._store.get(self._name(seq))
            if got is None:
                raise StateError(
                    f"journal entry {seq} not found at {self._store.loc.url(self._name(seq))}",
                    hint="it was cleared already; the apply result is in the snapshot",
                )
            entry = _entry_from(got[0])
        done = JournalEntry(entry.seq, entry.address, entry.action, entry.intent, True, ok,
                            None if live is None else dict(live))
        self._store.put(self._name(seq), _entry_json(done))

    def _finish_lost(self, mine: tuple[JournalEntry, str], ok: bool,
                     live: Mapping[str, Any] | None, doing: str) -> None:
        entry, etag = mine
        done = JournalEntry(entry.seq, entry.address, entry.action, entry.intent, True, ok,
                            None if live is None else dict(live))
        try:
            self._store.put(self._name(entry.seq), _entry_json(done), if_match=etag)
        except PreconditionFailed:
            raise StateError(
                f"lock lost: the lock passed to another run, which already recovered "
                f"journal entry {entry.seq}; {doing} was refused",
                hint="run plan again to see the stack's state") from None

    def entries(self) -> list[JournalEntry]:
        """Every entry not yet cleared, in order."""
        out = []
        for seq in self._seqs():
            got = self._store.get(self._name(seq))
            if got is not None:  # cleared between listing and reading
                out.append(_entry_from(got[0]))
        return out

    def clear(self, upto: int) -> None:
        """Drop entries with seq <= upto; numbering continues after them."""
        self._fence("the journal clear")
        head, etag = self._head()
        if upto + 1 > head:
            body = json.dumps({"next": upto + 1}).encode()
            try:
                if etag is None:
                    self._store.put(self._dir + _HEAD, body, if_absent=True)
                else:
                    self._store.put(self._dir + _HEAD, body, if_match=etag)
            except PreconditionFailed:
                self.clear(upto)  # a concurrent clear moved the head: re-check it
                return
        self._store.delete_many([self._name(s) for s in self._seqs() if s <= upto])
        with self._mu:
            for seq in [s for s in self._begun if s <= upto]:
                del self._begun[seq]
