"""The compact on-disk form of state rows: deflated canonical JSON behind a magic prefix.

Pure functions. A packed document is ``MAGIC`` followed by a raw deflate
stream of the document's JSON text, compressed with a preset dictionary of
the keys and values every row repeats (``"attributes":{``, ``"$sha256":"``
…). A resource row of a local file shrinks from ~550 bytes of JSON to ~160,
and the digest a row holds three times is stored once.

The format never changes under the same prefix: ``DRZ1`` means *this*
dictionary, forever; a new dictionary gets a new prefix and both keep
reading. A value that is not bytes with the prefix is the older clear JSON
text, which still reads as before, so old state files need no migration.

The deflate is ISA-L's (the ``isal`` package, a dependency) at its level 1
when it is installed, else zlib's at level 9 (``_compressor``). Both write raw
deflate against the same dictionary, which ``zlib`` inflates: the same format,
other bytes. A row of a local file is ~7% larger packed by ISA-L (~213 bytes
against ~199) and takes about half the time: zlib spends most of a row's
packing building that one block's Huffman trees, a fixed cost per row, and a
10,000-file first apply packs 10,000 rows. A row packed by one and compared
with the same row packed by the other counts as changed and is written again,
which is harmless.

The prefix is four printable bytes so that a scanner looking for secrets in
a state file (or its WAL, or a free page) can find every packed document
anywhere in the raw bytes and inflate it: ``inflate_all``. Packing hides
nothing; it only saves space (state encryption is what hides, see
``encrypted``).
"""

from __future__ import annotations

import functools
import json
import os
import zlib
from collections.abc import Callable
from typing import Any

from driftless.model import ResourceState

__all__ = ["BATCH_MAGIC", "MAGIC", "RowDoc", "inflate_all", "pack",
           "pack_batches", "packer_hello", "unpack", "unpack_batch"]

MAGIC = b"DRZ1"
# A batch of old row versions (snapshot history): deflate of the JSON list
# ``[[address, born, text], ...]``, no dictionary: rows compress against each
# other (~80 bytes per local file row instead of ~160 packed one by one).
BATCH_MAGIC = b"DRB1"
# JSON text per batch: its deflate (~3 KB) fits one 4 KB page, so a scanner of
# raw bytes reads it whole, and a batch still spans ~20 rows.
BATCH_TEXT = 12_000
# Keys and values rows repeat, most frequent last (deflate codes near distances
# cheaper). Fixed forever for MAGIC ``DRZ1``.
_DICT_V1 = (
    b'"type":"directory""type":"symlink""target":"command":"argv":["env":{"port":'
    b'"local:command/local:directory/local:symlink/local:template/local:env_file/'
    b'"aws:"arn":"arn:aws:"id":"name":"tags":{"driftless:address":"region":"'
    b'"owner":"group":"triggers":{"ran_at":"exit_code":0,"keyed":true,"$hmac":"'
    b'"private":{"digest":"gid":0,"ino":"keyed":false,"mtime_ns":"inputs":{'
    b'"content":{"$sha256":"depends_on":[],"attributes":{"mode":"0644","path":"'
    b'"protect":false}"size":"st_mode":33188,"uid":0},"sha256":"type":"file"},'
    b'{"address":"local:file/'
)
# A 4 KB window and a small hash table: rows are small, and the set-up of a
# default compressor (256 KB of tables) would cost more than the compression.
_WBITS, _MEM_LEVEL = -12, 5


# Set up once with the dictionary and copied per document: a copy is the same
# state (so the same bytes out) without hashing the dictionary again for each
# row, which cost about as much as compressing a row. Never written to itself.
_PRIMED = zlib.compressobj(9, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY,
                           _DICT_V1)
ISAL_LEVEL = 1
"""ISA-L's fastest level: ~half of zlib's time per row, for rows ~7% larger."""


@functools.cache
def _isal() -> Any | None:
    """``isal.isal_zlib`` when it imports, else None. Asked on the first row packed: a
    command that packs nothing (a no-op apply, a plan) never imports it."""
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


@functools.cache
def _compressor() -> Callable[[], Any]:
    """What makes the compressor of one document, from the parameters the packing
    helper is given (``packer_hello``): ISA-L's, set up per document (it has no
    ``copy``; its set-up is ~0.5 us), else a copy of ``_PRIMED``."""
    isal_zlib = _isal()
    if isal_zlib is None:
        return _PRIMED.copy
    _, _, level, wbits, mem_level, zdict, _ = packer_hello()
    return functools.partial(isal_zlib.compressobj, level, isal_zlib.DEFLATED, wbits,
                             mem_level, isal_zlib.Z_DEFAULT_STRATEGY, zdict)


def packer_hello() -> tuple[Any, ...]:
    """What a helper process packing rows for the journal starts with (the ``pack`` job
    of ``model.helper``): the compressor ``pack`` uses here, so that it packs a row to
    these very bytes. The helper runs without site packages, so ISA-L's comes with the
    directory its package is in. ``(module, directory or None, level, wbits,
    mem_level, zdict, magic)``."""
    isal_zlib = _isal()
    if isal_zlib is None:
        return ("zlib", None, 9, _WBITS, _MEM_LEVEL, _DICT_V1, MAGIC)
    package = os.path.dirname(os.path.dirname(os.path.abspath(isal_zlib.__file__)))
    return ("isal.isal_zlib", package, ISAL_LEVEL, -15, isal_zlib.DEF_MEM_LEVEL, _DICT_V1,
            MAGIC)


class RowDoc(dict[str, Any]):
    """``state.to_json()`` that remembers ``state``: the journal outcome of an applied
    resource. A row backend that journals it encodes and packs the row once, and
    writes those same bytes when the snapshot holding that very ``state`` is stored
    (the apply's commit) instead of encoding all rows again."""

    packed: bytes | None = None  # ``pack`` of its canonical text, when a helper made it

    def __init__(self, state: ResourceState, address: str | None = None) -> None:
        # ``state.to_json()`` without its copies: the document is encoded and
        # dropped, and the state it shares its mappings with is never changed.
        # ``address``: ``str(state.id)`` when the caller has it already.
        attrs, private, inputs = state.attributes, state.private, state.inputs
        super().__init__(
            address=str(state.id) if address is None else address,
            attributes=attrs if type(attrs) is dict else dict(attrs),
            private=private if type(private) is dict else dict(private),
            inputs=inputs if type(inputs) is dict else dict(inputs),
            protect=state.protect, depends_on=[str(d) for d in state.depends_on])
        self.state = state


def pack(text: str) -> bytes:
    """``MAGIC`` + the deflated UTF-8 of ``text`` (canonical JSON of one document)."""
    z = _compressor()()
    body: bytes = z.compress(text.encode()) + z.flush()
    return MAGIC + body


def unpack(value: str | bytes) -> str:
    """The JSON text of a stored value: packed bytes inflated, clear text as it is.

    Raises ``ValueError`` for bytes that are not a whole packed document
    (callers report the row as damaged).
    """
    if isinstance(value, str):
        return value
    if not value.startswith(MAGIC):
        raise ValueError("a stored document has an unknown format")
    try:
        z = zlib.decompressobj(-15, _DICT_V1)
        out = z.decompress(value[len(MAGIC):]) + z.flush()
    except zlib.error as exc:
        raise ValueError(f"a packed document does not inflate ({exc})") from None
    if not z.eof:
        raise ValueError("a packed document is cut short")
    return out.decode()


def pack_batches(rows: list[tuple[str, int, str]]) -> list[bytes]:
    """``(address, born serial, row JSON text)`` rows as ``BATCH_MAGIC`` blobs."""
    out: list[bytes] = []
    start, size = 0, 0
    for i, (_, _, text) in enumerate(rows):
        size += len(text) + 32
        if size >= BATCH_TEXT or i == len(rows) - 1:
            z = zlib.compressobj(9, zlib.DEFLATED, -15)
            body = json.dumps([list(r) for r in rows[start:i + 1]], separators=(",", ":"))
            out.append(BATCH_MAGIC + z.compress(body.encode()) + z.flush())
            start, size = i + 1, 0
    return out


def unpack_batch(blob: bytes) -> list[tuple[str, int, str]]:
    """The rows of one ``pack_batches`` blob; ``ValueError`` when it is damaged."""
    if not blob.startswith(BATCH_MAGIC):
        raise ValueError("a stored batch of row versions has an unknown format")
    try:
        z = zlib.decompressobj(-15)
        rows = json.loads(z.decompress(blob[len(BATCH_MAGIC):]) + z.flush())
    except zlib.error as exc:
        raise ValueError(f"a batch of row versions does not inflate ({exc})") from None
    return [(str(a), int(b), str(t)) for a, b, t in rows]


def inflate_all(blob: bytes) -> bytes:
    """Every packed document or batch found anywhere in ``blob`` (a raw state file),
    inflated as far as it goes, joined by newlines: what a secret scanner must also read."""
    out: list[bytes] = []
    for magic, zdict in ((MAGIC, _DICT_V1), (BATCH_MAGIC, b"")):
        out += _inflate_each(blob, magic, zdict)
    return b"\n".join(out)


def _inflate_each(blob: bytes, magic: bytes, zdict: bytes) -> list[bytes]:
    out: list[bytes] = []
    at = blob.find(magic)
    while at >= 0:
        z = zlib.decompressobj(-15, zdict) if zdict else zlib.decompressobj(-15)
        got = bytearray()
        start = at + len(magic)
        # In small steps: a stream cut by a page boundary still yields its beginning.
        for step in range(start, min(len(blob), start + (1 << 20)), 256):
            try:
                got += z.decompress(blob[step: step + 256])
            except zlib.error:
                break
            if z.eof:
                break
        out.append(bytes(got))
        at = blob.find(magic, at + 1)
    return out
