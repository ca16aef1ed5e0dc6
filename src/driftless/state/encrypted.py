"""Whole-state encryption as a decorator over any ``StateBackend``.

``EncryptedBackend(inner, keys)`` seals every resource document, the outputs
and every journal intent and outcome before they reach ``inner``, and opens
them on the way back, so backends stay ignorant of encryption. The seam keeps
the inner backend's data model: a resource is still one row (or entry) per
address, whose attributes are only ``{"$enc": "<data key id>.<ciphertext>"}``;
the outputs become ``{"$enc": …, "$deks": {id: wrapped data key}}``; a journal
document becomes ``{"$enc": …, "$dek": wrapped}``. Stack names, addresses,
serials, lineages and locks stay clear: backends need them for conflicts.

Each stack keeps one data key (see ``crypto``) while the current key wraps
it, so SQLite still rewrites only the rows that changed: a row whose
document did not change keeps its ciphertext. A row sealed under the
fallback key, or stored in clear, is re-sealed by the next write, which is
how turning encryption on and rotating keys migrate state. Encrypted state
read with no key or a wrong one raises ``StateKeyError`` naming the stack and
the key it needs, and ``lock`` reads first so such a run writes nothing.

I/O: only through ``inner``.
"""

from __future__ import annotations

import binascii
import json
import threading
from collections.abc import Mapping
from dataclasses import field, replace
from typing import Any

from cryptography.exceptions import InvalidTag

from driftless.errors import LockHeld
from driftless.model import LockInfo, ResourceState, StateSnapshot
from driftless.records import record
from driftless.state.base import Journal, JournalEntry, SnapshotInfo, StateBackend, no_history
from driftless.state.crypto import (
    DataKey,
    StateKeyError,
    StateKeys,
    blob_key_id,
    wrapped_kid,
)
from driftless.state.seal_guard import DEK, DEKS, ENC, check_keys, guard_clear, is_sealed

__all__ = ["EncryptedBackend", "EncryptedJournal", "guard_clear", "is_sealed"]

@record(frozen=False)
class _Row:
    """One resource as stored (``inner``) and as plain, to reuse ciphertext."""

    blob: str
    inner: ResourceState
    plain: ResourceState
    dek_id: str


@record(frozen=False)
class _Stack:
    """What this client last saw or wrote of one stack."""

    deks: dict[str, DataKey] = field(default_factory=dict)
    rows: dict[str, _Row] = field(default_factory=dict)
    write_key: DataKey | None = None


class EncryptedBackend:
    """``StateBackend`` that seals documents with ``keys`` before ``inner`` stores them."""

    def __init__(self, inner: StateBackend, keys: StateKeys) -> None:
        self.inner = inner
        self.keys = keys
        self._stacks: dict[str, _Stack] = {}
        self._verified: set[str] = set()
        self._mu = threading.Lock()

    def __repr__(self) -> str:
        return repr(self.inner)

    def _cache(self, stack: str) -> _Stack:
        with self._mu:
            return self._stacks.setdefault(stack, _Stack())

    def _missing_key(self, stack: str, what: str, kid: str) -> StateKeyError:
        """The error every command shows when it cannot open a stack's state."""
        return StateKeyError(
            f"stack '{stack}': {what} is encrypted with key {kid}, which the configured "
            f"keys do not open ({self.keys.describe()}); nothing was written",
            hint="set DRIFTLESS_STATE_KEY (or DRIFTLESS_STATE_FALLBACK_KEY during a "
                 "rotation) to that key: an age identity AGE-SECRET-KEY-1… or "
                 "passphrase:<phrase>; see docs/operations/state-encryption.md",
        )

    def _data_key(self, stack: str, wrapped: str, what: str) -> DataKey:
        """Unwrap ``wrapped`` (cached per stack: a key costs one age or scrypt call)."""
        cache = self._cache(stack)
        for dek in list(cache.deks.values()):
            if dek.wrapped == wrapped:
                return dek
        opened = self.keys.unwrap(wrapped)
        if opened is None:
            raise self._missing_key(stack, what, wrapped_kid(wrapped))
        with self._mu:
            cache.deks[opened.id] = opened
        return opened

    def _open(self, stack: str, blob: str, aad: str, what: str,
              deks: Mapping[str, DataKey] | None = None) -> bytes:
        """Open one sealed blob with a data key this stack has already unwrapped."""
        dek = (self._cache(stack).deks if deks is None else deks).get(blob_key_id(blob))
        if dek is None:
            raise self._missing_key(stack, what, f"data key {blob_key_id(blob)} (not listed)")
        try:
            return dek.open(blob, aad)
        except (InvalidTag, ValueError, binascii.Error):
            raise StateKeyError(
                f"stack '{stack}': {what} does not decrypt with its data key; it was "
                "altered or moved from another place in state; nothing was written",
                hint="push back a copy saved with driftless state pull (driftless state push "
                     "STACK FILE), or on S3 an earlier object version (see "
                     "docs/operations/state.md, Recovery)",
            ) from None

    # -- snapshots ----------------------------------------------------------

    def read(self, stack: str) -> StateSnapshot:
        """The inner snapshot with every sealed document opened (clear ones pass)."""
        return self._opened_snapshot(stack, self.inner.read(stack), remember=True)

    def _opened_snapshot(self, stack: str, snap: StateSnapshot, *, remember: bool
                         ) -> StateSnapshot:
        outputs = dict(snap.outputs)
        if is_sealed(outputs):
            for wrapped in dict(outputs.get(DEKS) or {}).values():
                self._data_key(stack, str(wrapped), "its state")
            outputs = json.loads(self._open(stack, outputs[ENC], f"{stack}\0outputs",
                                            "its outputs"))
        resources = self._open_rows(stack, snap.resources, remember=remember)
        return replace(snap, resources=resources, outputs=outputs)

    def history(self, stack: str) -> list[SnapshotInfo]:
        """The inner backend's kept snapshots (their list holds nothing secret);
        ``StateError`` when it keeps none (a backend of a plugin)."""
        history = getattr(self.inner, "history", None)
        if history is None:
            raise no_history(self.inner)
        return list(history(stack))

    def snapshot(self, stack: str, serial: int) -> StateSnapshot:
        """A kept snapshot, opened with the data keys it names (still sealed on disk)."""
        snapshot = getattr(self.inner, "snapshot", None)
        if snapshot is None:
            raise no_history(self.inner)
        stored: StateSnapshot = snapshot(stack, serial)
        return self._opened_snapshot(stack, stored, remember=False)

    def _open_rows(self, stack: str, stored: Mapping[Any, ResourceState], *,
                   remember: bool = True) -> dict[Any, ResourceState]:
        """Open sealed rows, reusing the plain document of a blob seen before; only
        ``remember`` (the live state, not an old snapshot) updates that cache."""
        cache = self._cache(stack)
        out: dict[Any, ResourceState] = {}
        todo: list[tuple[str, ResourceState, str]] = []
        for rid, rs in stored.items():
            address = str(rid)
            if not is_sealed(rs.attributes):
                out[rid] = rs
                if remember:
                    cache.rows.pop(address, None)
                continue
            blob = str(rs.attributes[ENC])
            row = cache.rows.get(address)
            if row is not None and row.blob == blob:
                out[rid] = row.plain
            else:
                todo.append((address, rs, blob))
        texts = [self._open(stack, blob, f"{stack}\0{address}", f"resource {address}",
                            cache.deks) for address, _, blob in todo]
        # One json.loads over all rows is much faster than one per row.
        docs = json.loads(b"[" + b",".join(texts) + b"]")
        for (address, rs, blob), doc in zip(todo, docs, strict=True):
            plain = ResourceState.from_json(doc)
            out[rs.id] = plain
            if remember:
                cache.rows[address] = _Row(blob, rs, plain, blob_key_id(blob))
        return out

    def write(self, stack: str, snap: StateSnapshot) -> None:
        """Seal changed rows and the outputs under the stack's data key, then store."""
        sealed, rows = self._seal_snapshot(stack, snap)
        self.inner.write(stack, sealed)
        self._cache(stack).rows = rows

    def import_snapshot(self, stack: str, snap: StateSnapshot) -> None:
        """``state migrate``'s copy keeping the serial, when the inner backend can (S3);
        else the protocol's write at the next serial, as migrate does for SQLite."""
        sealed, rows = self._seal_snapshot(stack, snap)
        importer = getattr(self.inner, "import_snapshot", None)
        if importer is not None:
            importer(stack, sealed)
        else:
            self.inner.write(stack, replace(sealed, serial=self.inner.read(stack).serial + 1))
        self._cache(stack).rows = rows

    def _seal_snapshot(self, stack: str, snap: StateSnapshot
                       ) -> tuple[StateSnapshot, dict[str, _Row]]:
        """The snapshot as stored, and its rows to remember once the store took it."""
        if self.keys.current is None:
            return snap, {}  # no current key: state is written clear
        dek = self._write_key(stack)
        cache = self._cache(stack)
        rows = {str(rid): self._sealed_row(stack, cache, rs, dek)
                for rid, rs in snap.resources.items()}
        deks = {row.dek_id: cache.deks[row.dek_id].wrapped for row in rows.values()}
        deks[dek.id] = dek.wrapped
        outputs = {ENC: dek.seal(_dumps(dict(snap.outputs)), f"{stack}\0outputs"),
                   DEKS: deks}
        sealed = {row.inner.id: row.inner for row in rows.values()}
        return replace(snap, resources=sealed, outputs=outputs), rows

    def _write_key(self, stack: str) -> DataKey:
        """The stack's data key if the current key wraps it, else a new one (kept)."""
        cache = self._cache(stack)
        with self._mu:
            if cache.write_key is None:
                current = [d for d in cache.deks.values() if d.current]
                cache.write_key = current[0] if current else self.keys.new_data_key()
                cache.deks[cache.write_key.id] = cache.write_key
            return cache.write_key

    def _sealed_row(self, stack: str, cache: _Stack, rs: ResourceState, dek: DataKey) -> _Row:
        """Reuse the stored row when its document is unchanged and current-keyed."""
        address = str(rs.id)
        row = cache.rows.get(address)
        if row is not None and cache.deks[row.dek_id].current and (
                row.plain is rs or row.plain == rs):
            return row
        blob = dek.seal(_dumps(rs.to_json()), f"{stack}\0{address}")
        return _Row(blob, ResourceState(rs.id, {ENC: blob}), rs, dek.id)

    def needs_rekey(self, stack: str) -> bool:
        """Whether a stored document of ``stack`` is not as the current key would write it:
        clear while a current key is set, or sealed under another key (or with none)."""
        snap = self.inner.read(stack)
        self.read(stack)  # unwraps every data key, or raises naming the missing key
        blobs = [str(rs.attributes[ENC]) if is_sealed(rs.attributes) else None
                 for rs in snap.resources.values()]
        blobs.append(str(snap.outputs[ENC]) if is_sealed(snap.outputs) else None)
        blobs += [b for e in self.inner.journal(stack).entries() for b in _journal_blobs(e)]
        if snap.serial == 0:
            blobs.pop(len(snap.resources))  # a stack without a snapshot has no outputs
        return any(not self._is_current(stack, b) for b in blobs)

    def _is_current(self, stack: str, blob: str | None) -> bool:
        if self.keys.current is None:
            return blob is None
        dek = None if blob is None else self._cache(stack).deks.get(blob_key_id(blob))
        return dek is not None and dek.current

    def rekey(self, stack: str) -> bool:
        """Re-seal ``stack``'s snapshot and pending journal under the current key
        (clear text without one); False when nothing needed it. Hold the lock."""
        if not self.needs_rekey(stack):
            return False
        snap = self.read(stack)
        if snap.serial:
            self.write(stack, snap.next())
            # Kept snapshots (SQLite) hold rows under the old key, or in clear: drop
            # them, so no snapshot outlives the key it was written with.
            forget = getattr(self.inner, "forget_history", None)
            if forget is not None:
                forget(stack)
        journal = self.journal(stack)
        entries = journal.entries()
        if entries:
            # Copies first, then the originals: a crash between leaves duplicates
            # (recovery sees the side effect twice), never a lost intent.
            for e in entries:
                seq = journal.begin(e.address, e.action, e.intent)
                if e.finished:
                    journal.finish(seq, ok=e.ok, live=e.live)
            journal.clear(entries[-1].seq)
        return True

    def stacks(self) -> list[str]:
        """Stack names are stored clear."""
        return self.inner.stacks()

    # -- locks: clear, but refused up front when the state cannot be opened --

    def lock(self, stack: str, info: LockInfo) -> str:
        """Check the keys open this stack before taking its lock, so a run without
        the right key fails before it writes even a lock record."""
        if stack not in self._verified:
            check_keys(self, stack)
            self._verified.add(stack)
        return self.inner.lock(stack, info)

    def take_over(self, stack: str, info: LockInfo, *, holder: LockInfo) -> str:
        """The inner backend's compare-and-set takeover of a dead holder; one that
        has none leaves the lock to expire (``LockHeld``), never a forced delete."""
        take_over = getattr(self.inner, "take_over", None)
        if take_over is None:
            raise LockHeld(stack, holder)
        return str(take_over(stack, info, holder=holder))

    def renew(self, stack: str, lock_id: str) -> None:
        """Locks are not encrypted."""
        self.inner.renew(stack, lock_id)

    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None:
        """Locks are not encrypted."""
        self.inner.unlock(stack, lock_id, force=force)

    def lock_info(self, stack: str) -> LockInfo | None:
        """Locks are not encrypted."""
        return self.inner.lock_info(stack)

    def journal(self, stack: str) -> EncryptedJournal:
        """The stack's journal, sealing intents and outcomes."""
        return EncryptedJournal(self, stack, self.inner.journal(stack))

    def close(self) -> None:
        """Forget cached keys and documents; close the inner backend."""
        with self._mu:
            self._stacks.clear()
        self.inner.close()

    # -- journal documents -------------------------------------------------

    def seal_doc(self, stack: str, doc: Mapping[str, Any], aad: str) -> dict[str, Any]:
        """A journal document as ``{"$enc", "$dek"}`` (clear without a current key)."""
        if self.keys.current is None:
            return dict(doc)
        dek = self._write_key(stack)
        return {ENC: dek.seal(_dumps(dict(doc)), aad), DEK: dek.wrapped}

    def open_doc(self, stack: str, doc: Mapping[str, Any], aad: str, what: str
                 ) -> Mapping[str, Any]:
        """Inverse of ``seal_doc``; a clear document passes unchanged."""
        if not is_sealed(doc):
            return doc
        self._data_key(stack, str(doc.get(DEK)), what)
        return dict(json.loads(self._open(stack, str(doc[ENC]), aad, what)))


def _dumps(doc: Any) -> bytes:
    """Compact JSON; ``default=str`` matches what the clear backends tolerate."""
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


def _journal_blobs(entry: JournalEntry) -> list[str | None]:
    """The sealed blobs of one stored entry (None for a clear document)."""
    docs = [entry.intent] + ([entry.live] if entry.live is not None else [])
    return [str(d[ENC]) if is_sealed(d) else None for d in docs]


def _intent_aad(stack: str, address: str) -> str:
    return f"{stack}\0journal\0{address}"


def _live_aad(stack: str, address: str) -> str:
    return f"{stack}\0journal-live\0{address}"


class EncryptedJournal:
    """A stack's journal whose intents and outcomes are sealed like its rows."""

    def __init__(self, owner: EncryptedBackend, stack: str, inner: Journal) -> None:
        self._owner = owner
        self.stack = stack
        self.inner = inner
        self._addresses: dict[int, str] = {}

    def _seal_intent(self, address: str, intent: Mapping[str, Any]) -> dict[str, Any]:
        return self._owner.seal_doc(self.stack, intent, _intent_aad(self.stack, address))

    def _seal_live(self, seq: int, live: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if live is None:
            return None
        address = self._addresses.get(seq) or str(live.get("address", ""))
        return self._owner.seal_doc(self.stack, live, _live_aad(self.stack, address))

    def begin(self, address: str, action: str, intent: Mapping[str, Any]) -> int:
        """Seal the intent, then record it through the inner journal."""
        seq = self.inner.begin(address, action, self._seal_intent(address, intent))
        self._addresses[seq] = address
        return seq

    def finish(self, seq: int, *, ok: bool, live: Mapping[str, Any] | None) -> None:
        """Seal the outcome (bound to the entry's address), then record it."""
        if seq not in self._addresses:
            self._learn_addresses()
        self.inner.finish(seq, ok=ok, live=self._seal_live(seq, live))

    def _learn_addresses(self) -> None:
        """An entry begun by another client: its address comes from the stored entry."""
        self._addresses.update({e.seq: e.address for e in self.inner.entries()})

    def begin_many(self, items: list[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        """Batched ``begin`` when the inner journal batches (SQLite does)."""
        sealed = [(a, act, self._seal_intent(a, i)) for a, act, i in items]
        many = getattr(self.inner, "begin_many", None)
        seqs: list[int] = (list(many(sealed)) if many is not None
                           else [self.inner.begin(*item) for item in sealed])
        self._addresses.update({s: a for s, (a, _, _) in zip(seqs, items, strict=True)})
        return seqs

    def finish_many(self, outcomes: list[tuple[int, bool, Mapping[str, Any] | None]]) -> None:
        """Batched ``finish`` when the inner journal batches."""
        if any(seq not in self._addresses for seq, _, _ in outcomes):
            self._learn_addresses()
        sealed = [(seq, ok, self._seal_live(seq, live)) for seq, ok, live in outcomes]
        many = getattr(self.inner, "finish_many", None)
        if many is not None:
            many(sealed)
            return
        for seq, ok, live in sealed:
            self.inner.finish(seq, ok=ok, live=live)

    def entries(self) -> list[JournalEntry]:
        """Every entry, opened."""
        return [self._opened(e) for e in self.inner.entries()]

    def _opened(self, e: JournalEntry) -> JournalEntry:
        what = f"journal entry {e.seq} ({e.address})"
        intent = self._owner.open_doc(self.stack, e.intent, _intent_aad(self.stack, e.address),
                                      what)
        live = (None if e.live is None else
                self._owner.open_doc(self.stack, e.live, _live_aad(self.stack, e.address), what))
        self._addresses[e.seq] = e.address
        return replace(e, intent=intent, live=live)

    def clear(self, upto: int) -> None:
        """Clearing needs no key."""
        self.inner.clear(upto)
