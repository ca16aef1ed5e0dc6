"""Decoded state rows kept beside a SQLite state file, found by the stored bytes.

Inflating and parsing every packed row is most of a large stack's state
read (10,000 rows: ~0.2 s), and a no-op plan reads the very rows the
previous run decoded. This keeps, per stack, one ``marshal`` file of the
decoded rows (plain tuples, never pickle) next to the database, under a
digest of the exact stored bytes it was decoded from: a read fetches the
rows (cheap), digests them, and uses the file only when the digest is the
same, so any change to any row, by any writer, is a miss and a full decode.

Trust: the file sits beside the state file and is written 0600 by the same
user; whoever could plant it could rewrite the state itself. It holds the
rows as stored (sealed documents stay sealed under state encryption) and
nothing else. Any failure to read or write it only costs the full decode.
I/O: one file per stack in the state file's directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from driftless.model.filemap import mapped, write_private

__all__ = ["RowCache", "Row"]

_FORMAT = 4
_CHUNK = 512  # rows per marshal chunk: a 10 MB file is never built whole in memory
_MAGIC = b"driftless-rows\0"
_DIGEST = 32
_MOST = 1 << 30

# (id as a plain tuple, attributes, private, inputs, protect, depends_on ids as plain
# tuples, row JSON text): marshal keeps plain tuples only, and ids need no parsing
IdParts = tuple[str, str, str, Any]
Row = tuple[IdParts, dict[str, Any], dict[str, Any], dict[str, Any], bool,
            tuple[IdParts, ...], str]


class RowCache:
    """The decoded rows of each stack of the state file at ``db``."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def _path(self, stack: str) -> Path:
        tag = hashlib.sha256(stack.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return self.db.with_name(f".{self.db.name}.rows-{tag}")

    @staticmethod
    def digest(stored: Iterable[str | bytes]) -> bytes:
        """A digest of the stored row values, in the order they were read (each with
        its length, so no two sequences run together); taken as they stream by."""
        h = hashlib.sha256()
        for value in stored:
            data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
        return h.digest()

    def load(self, stack: str, digest: bytes) -> list[Row] | None:
        """The rows decoded from stored bytes with ``digest``; None on any mismatch."""
        with mapped(self._path(stack), most=_MOST) as data:
            if data is None or data[:len(_MAGIC)] != _MAGIC:
                return None
            body = data[len(_MAGIC):]
            try:
                if body[:_DIGEST] != digest:
                    return None
                return _chunks(body[_DIGEST:], stack)
            except (EOFError, ValueError, TypeError, IndexError):
                return None
            finally:
                body.release()

    def save(self, stack: str, digest: bytes, rows: list[Row]) -> None:
        """Keep ``rows`` for the next read (temp file + rename, mode 0600)."""
        with contextlib.suppress(OSError, ValueError):
            write_private(self._path(stack), _chunked(stack, digest, rows))

    def drop(self, stack: str) -> None:
        """Forget a stack's rows (its state was removed)."""
        with contextlib.suppress(OSError):
            self._path(stack).unlink()


def _chunked(stack: str, digest: bytes, rows: list[Row]) -> Iterator[bytes]:
    """The file ``save`` writes, a piece at a time: magic, digest, a length-prefixed
    head, then length-prefixed marshal chunks of ``_CHUNK`` rows."""
    yield _MAGIC + digest
    head = marshal.dumps((_FORMAT, stack, len(rows)))
    yield len(head).to_bytes(4, "big") + head
    for at in range(0, len(rows), _CHUNK):
        chunk = marshal.dumps(rows[at:at + _CHUNK])
        yield len(chunk).to_bytes(4, "big")
        yield chunk


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
