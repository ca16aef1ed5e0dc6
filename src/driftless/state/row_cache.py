"""Decoded state rows kept beside a SQLite state file, found by the stored bytes.

Inflating and parsing every packed row is most of a large stack's state
read (10,000 rows: ~0.2 s), and a no-op plan reads the very rows the
previous run decoded. This keeps, per stack, a ``marshal`` file of the
decoded rows (plain tuples, never pickle) next to the database, under a key
of the exact stored bytes it was decoded from: a read fetches the rows
(cheap), keys them (``Keyed``), and uses the file only when the key is the
same, so any change to any row, by any writer, is a miss and a full decode.

A write that changes a few rows of a large stack must not re-marshal and
rewrite every row (~10 MB for 10,000 rows), nor select every row again to
key them. So the file is a *base* plus a small *delta* file: the rows
replaced since the base was written, by position, with the base's key and
the new key. A read uses the base when its key is the stored rows' key, or
base and delta when the delta's key is, and the delta was made from that very
base. The delta only replaces rows in place: a write that adds or removes a
row (the positions move) writes a new base, as does one whose delta would
outgrow ``_delta_most``. The key is a digest of the addresses and of each
span of ``_SPAN`` stored rows, so the writer rekeys only the spans it
changed, from the stored bytes it holds in memory. Those are the bytes it
read (or wrote) itself, never what it assumes is stored: a row changed behind
its back still leaves a key the stored rows do not have, so the next read
misses.

Trust: the files sit beside the state file and are written 0600 by the same
user; whoever could plant them could rewrite the state itself. They hold the
rows as stored (sealed documents stay sealed under state encryption) and
nothing else. Any failure to read or write them only costs the full decode.
A new base is written by a forked child when the process can fork
(``model.background``: a CLI command may, also under its lock, while the
lease's renewer sleeps); a delta, small, is written in line. A read first
waits for a write under way.
I/O: two files per stack in the state file's directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from driftless.model.background import run_detached, wait
from driftless.model.filemap import mapped, write_private
from driftless.records import record

__all__ = ["Held", "Keyed", "Row", "RowCache"]

_FORMAT = 6  # 6: rows without their JSON text (a row is known by its stored bytes)
_CHUNK = 512  # rows per marshal chunk: a 10 MB file is never built whole in memory
_SPAN = 64  # stored rows per digest of the key: what a write of one row rehashes
_MAGIC = b"driftless-rows\0"
_DELTA_MAGIC = b"driftless-rowd\0"
_DIGEST = 32
_MOST = 1 << 30

# (id as a plain tuple, attributes, private, inputs, protect, depends_on ids as plain
# tuples): marshal keeps plain tuples only, and ids need no parsing. No JSON text: the
# reader holds each row's stored bytes already (they key the file), and the text of
# 10,000 local files was half of the file and of what a read allocated (~5 MB).
IdParts = tuple[str, str, str, Any]
Row = tuple[IdParts, dict[str, Any], dict[str, Any], dict[str, Any], bool,
            tuple[IdParts, ...]]


@record
class Keyed:
    """A stack's stored rows as a read selects them (address order), and their key:
    a digest of the addresses and of each ``_SPAN`` stored values, so a write that
    replaces a few values rehashes only their spans (``replaced``)."""

    addresses: list[str]
    stored: list[str | bytes]
    head: bytes
    spans: list[bytes]
    key: bytes

    @classmethod
    def of(cls, addresses: list[str], stored: list[str | bytes]) -> Keyed:
        """Key rows as selected: ``addresses[i]`` holds ``stored[i]``."""
        head = _digest(addresses)
        spans = [_digest(stored[at:at + _SPAN]) for at in range(0, len(stored), _SPAN)]
        return cls(addresses, stored, head, spans, _key(head, spans))

    def replaced(self, values: Mapping[int, str | bytes]) -> Keyed:
        """The same addresses with the values at some positions replaced: only their
        spans are hashed again. The lists are copied (~10,000 pointers), never changed."""
        stored, spans = list(self.stored), list(self.spans)
        for at, value in values.items():
            stored[at] = value
        for span in {at // _SPAN for at in values}:
            spans[span] = _digest(stored[span * _SPAN:(span + 1) * _SPAN])
        return Keyed(self.addresses, stored, self.head, spans, _key(self.head, spans))


def _digest(values: list[str] | list[str | bytes]) -> bytes:
    """A digest of a list of str and bytes, each told apart by its type and length:
    marshal version 2 (no references, so the same values give the same bytes)."""
    return hashlib.sha256(marshal.dumps(values, 2)).digest()


def _key(head: bytes, spans: list[bytes]) -> bytes:
    return hashlib.sha256(b"".join([_FORMAT.to_bytes(4, "big"), head, *spans])).digest()


@record
class Held:
    """What the files hold for the rows a client knows: the base file's key and the
    rows replaced since, by position (the delta file's, or none)."""

    base: bytes
    delta: Mapping[int, Row]


class RowCache:
    """The decoded rows of each stack of the state file at ``db``."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def _path(self, stack: str) -> Path:
        tag = hashlib.sha256(stack.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return self.db.with_name(f".{self.db.name}.rows-{tag}")

    def _delta_path(self, stack: str) -> Path:
        base = self._path(stack)
        return base.with_name(f"{base.name}.delta")

    def load(self, stack: str, key: bytes) -> tuple[list[Row], Held] | None:
        """The rows decoded from stored rows with ``key`` and what the files hold for
        them; None on any mismatch."""
        wait([str(self._path(stack))])  # a write still under way: ours to see
        with mapped(self._path(stack), most=_MOST) as data:
            base = _body(data, _MAGIC)
            if base is None:
                return None
            try:
                if base[:_DIGEST] == key:
                    rows = _chunks(base[_DIGEST:], stack)
                    return None if rows is None else (rows, Held(key, {}))
                return self._load_delta(stack, key, base)
            except (EOFError, ValueError, TypeError, IndexError, KeyError):
                return None
            finally:
                base.release()

    def _load_delta(self, stack: str, key: bytes,
                    base: memoryview) -> tuple[list[Row], Held] | None:
        """The base's rows with the delta file's applied, when that delta was made from
        this base and leads to ``key``."""
        with mapped(self._delta_path(stack), most=_MOST) as data:
            body = _body(data, _DELTA_MAGIC)
            if body is None:
                return None
            try:
                if body[:_DIGEST] != base[:_DIGEST] or body[_DIGEST:2 * _DIGEST] != key:
                    return None
                version, stored_stack, delta = marshal.loads(body[2 * _DIGEST:])
            finally:
                body.release()
        rows = _chunks(base[_DIGEST:], stack)
        if rows is None or (version, stored_stack) != (_FORMAT, stack) \
                or not isinstance(delta, dict):
            return None
        for at, row in delta.items():
            if not 0 <= at < len(rows):
                return None
            rows[at] = row
        return rows, Held(bytes(base[:_DIGEST]), delta)

    def save(self, stack: str, key: bytes, rows: Callable[[], list[Row]], *,
             share: bool = False) -> Held | None:
        """Keep the rows ``rows()`` makes for the next read as a new base (temp file +
        rename, mode 0600) and drop the delta made from the old one; None when it
        cannot. ``share``: rows just decoded from JSON, whose equal values are apart
        (``_shared``). Making 10,000 rows, marshalling and writing them (~25 ms) is
        done by a forked child when it can be (``_detached``)."""
        def write() -> bool:
            try:
                write_private(self._path(stack), _chunked(stack, key, rows(), share=share))
            except (OSError, ValueError):
                return False
            with contextlib.suppress(OSError):
                self._delta_path(stack).unlink()
            return True

        return Held(key, {}) if self._detached(stack, write) else None

    def advance(self, stack: str, held: Held, key: bytes, changed: Mapping[int, Row],
                count: int) -> Held | None:
        """Keep the rows at ``changed`` positions as replaced since ``held``'s base, for
        the stored rows now keyed ``key``, by rewriting only the delta file. None when
        the delta would grow past ``_delta_most`` of ``count`` rows, or cannot be
        written: the caller saves a new base."""
        delta = {**held.delta, **changed}
        if len(delta) > _delta_most(count):
            return None
        head = _DELTA_MAGIC + held.base + key

        def write() -> bool:
            try:
                write_private(self._delta_path(stack),
                              [head, marshal.dumps((_FORMAT, stack, delta))])
            except (OSError, ValueError):
                return False
            return True

        return Held(held.base, delta) if self._inline(stack, write) else None

    def _inline(self, stack: str, write: Callable[[], bool]) -> bool:
        """Run ``write`` of ``stack``'s files here, after any write of them still under
        way in a child: a delta is small (~1 ms to write), and a fork of the command
        with the pages it then copies would cost more than it saves."""
        wait([str(self._path(stack))])
        return write()

    def _detached(self, stack: str, write: Callable[[], bool]) -> bool:
        """Run ``write`` of ``stack``'s files in a forked child when the process can
        fork (``model.background``; True: taken as written), else now (its result).
        A write that fails in the child leaves files whose key or base is not the
        one the caller holds: the next read misses, and a delta made on top of a
        base that was never written never matches one."""
        return run_detached(write, keys=[str(self._path(stack))])

    def drop(self, stack: str) -> None:
        """Forget a stack's rows (its state was removed)."""
        wait([str(self._path(stack))])  # a write still under way would bring them back
        for path in (self._delta_path(stack), self._path(stack)):
            with contextlib.suppress(OSError):
                path.unlink()


def _delta_most(count: int) -> int:
    """Rows a delta may hold: a delta's load and rewrite grow with it, and a new base
    costs a rewrite of every row, so a new base comes every ~``count / 16`` rows."""
    return max(_CHUNK, count // 16)


def _body(data: memoryview | None, magic: bytes) -> memoryview | None:
    """What follows ``magic`` in a mapped file; None when the file is missing or not one."""
    if data is None or data[:len(magic)] != magic:
        return None
    return data[len(magic):]


def _chunked(stack: str, key: bytes, rows: list[Row], *, share: bool) -> Iterator[bytes]:
    """The file ``save`` writes, a piece at a time: magic, key, a length-prefixed
    head, then length-prefixed marshal chunks of ``_CHUNK`` rows."""
    yield _MAGIC + key
    head = marshal.dumps((_FORMAT, stack, len(rows)))
    yield len(head).to_bytes(4, "big") + head
    for at in range(0, len(rows), _CHUNK):
        part = rows[at:at + _CHUNK]
        chunk = marshal.dumps(_shared(part) if share else part)
        yield len(chunk).to_bytes(4, "big")
        yield chunk


def _shared(rows: list[Row]) -> list[Row]:
    """``rows`` with equal str values made one object (a digest a row holds three
    times, the mode or type every row holds), in their mappings and the mappings one
    level down: marshal writes a value it meets again as a reference, so a read makes
    fewer objects. For rows decoded from JSON, where each value is its own object:
    10,000 local files read ~5 ms faster from a 13% smaller file; the states a
    provider made share most of them already, and a base saved from rows read from
    a shared base shares them too (marshal's references come back as one object).
    ~25 ms for 10,000 rows. Copies: the rows' own mappings are the states'."""
    memo: dict[str, str] = {}

    def one(values: dict[str, Any]) -> dict[str, Any]:
        return {k: memo.setdefault(v, v) if type(v) is str else v for k, v in values.items()}

    def two(values: dict[str, Any]) -> dict[str, Any]:
        return {k: memo.setdefault(v, v) if type(v) is str else one(v) if type(v) is dict
                else v for k, v in values.items()}

    return [(rid, two(attrs), two(private), two(inputs), protect, deps)
            for rid, attrs, private, inputs, protect, deps in rows]


def _chunks(data: memoryview, stack: str) -> list[Row] | None:
    """The rows of a body written by ``save``; None when it is not one for ``stack``."""
    at, out = 0, []
    size = int.from_bytes(data[at:at + 4], "big")
    version, stored_stack, count = marshal.loads(data[at + 4:at + 4 + size])
    if version != _FORMAT or stored_stack != stack:
        return None
    at += 4 + size
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        chunk = marshal.loads(data[at + 4:at + 4 + size])
        if not isinstance(chunk, list):
            return None
        out.extend(chunk)
        at += 4 + size
    return out if len(out) == count else None
