"""A helper process: work done beside driftless, by the interpreter's own library only.

Some of an apply's work is system calls or C code that a thread cannot overlap
with Python work (each call wants the GIL back), so a large apply hands it to
a helper process on the other core (``model.helper_client``) and goes on:

- ``write``: local file writes (``providers.local.offload``). ``write_file``
  is the one implementation of how a local kind writes a file: a temp file
  beside the target, created exclusively with its mode, filled, its mtime set
  ``2 * racy_ns`` into the past (``providers/local/_fingerprint``: the record
  taken right after is then never racily clean), fsynced when asked, chmod
  and chown when needed, renamed over the target, and its stat taken on the
  open file. The driftless process calls it inline too.
- ``pack``: state rows encoded as canonical JSON and deflated with the state
  format's dictionary (``state.packed``, which sends its compressor first),
  for the journal (``apply.runner``).

Run as ``python -I -S helper.py <job> [args]`` (no site packages, no
driftless), this file imports nothing but the standard library (a test holds
it to that), and for ``pack``, ISA-L's deflate from the directory
driftless names when it packs with it. Protocol: each message is a 4-byte
big-endian length and a ``marshal`` of a list; every request gets one
answer, in order. ``write`` requests are
``[(path, tmp, data, born_mode, final_mode, owner, hashed), ...]``
(``final_mode``: chmod to it after the write, or None; ``owner``: ``(uid,
gid)`` or None; ``hashed``: answer the bytes' sha256 too), answered
``[(True, (st_mode, st_size, st_mtime_ns, st_ctime_ns, st_ino, st_uid, st_gid,
sha256 hex or None)) | (False, (errno, strerror)), ...]``.
``pack`` takes first ``(module, directory, level, wbits, mem_level, zdict,
magic)`` (``state.packed.packer_hello``), then row documents, answered with
each one's packed bytes (None: not JSON). End of input ends the process.
It runs at a lower priority than driftless (``NICE``). SIGINT is blocked in
it: a Ctrl-C stops driftless, which closes the pipe; a batch under way still
ends whole. I/O: the files it is asked to write, its stdin and stdout.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import time

# Imported for the type checker only: ``typing`` (with ``re``), ``contextlib`` and
# ``collections`` cost a helper ~15 ms of its start, and the writer's start is on
# the way to an apply's first file.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

__all__ = ["CREATE_FLAGS", "JOBS", "StatTuple", "TempKeepsReappearing", "main", "write_file"]

CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_MESSAGE = 1 << 30  # a length past this is not a message of ours

StatTuple = tuple[int, int, int, int, int, int, int]


class TempKeepsReappearing(FileExistsError):
    """The temp file was there again right after it was removed (someone else is
    writing the same name)."""


def write_file(path: str, tmp: str, chunks: Iterable[bytes], *, born: int,
               final: int | None, owner: tuple[int, int] | None, racy_ns: int,
               fsync: bool) -> os.stat_result:
    """Write ``chunks`` to ``tmp`` (created with mode ``born``) and rename it over
    ``path``; the new file's stat. Raises ``OSError``; ``tmp`` is then removed,
    so nothing half-written remains. A ``tmp`` left by a killed writer is
    replaced; one that keeps reappearing is an error.

    The stat is taken on the open file after the rename (the same inode; the
    rename moves ctime on some file systems). Should the mode not be
    ``final or born`` then (the umask was changed since it was read), it is set.
    """
    fd = _create(tmp, born)
    try:
        _fill(fd, chunks, final=final, owner=owner, racy_ns=racy_ns, fsync=fsync)
        os.replace(tmp, path)
        st = os.fstat(fd)
        wanted = born if final is None else final
        if stat.S_IMODE(st.st_mode) != wanted:
            os.fchmod(fd, wanted)
            st = os.fstat(fd)
        return st
    except BaseException:
        _remove_quietly(tmp)
        raise
    finally:
        os.close(fd)


def _create(tmp: str, mode: int) -> int:
    for _ in range(2):
        try:
            return os.open(tmp, CREATE_FLAGS, mode)
        except FileExistsError:
            _remove_quietly(tmp)
    raise TempKeepsReappearing(17, "temporary file keeps reappearing", tmp)


def _fill(fd: int, chunks: Iterable[bytes], *, final: int | None,
          owner: tuple[int, int] | None, racy_ns: int, fsync: bool) -> None:
    for chunk in chunks:
        done = os.write(fd, chunk)
        if done < len(chunk):  # a short write (rare): the rest, piece by piece
            view = memoryview(chunk)[done:]
            while view:
                view = view[os.write(fd, view):]
    now = time.time_ns()
    os.utime(fd, ns=(now, now - 2 * racy_ns))  # backdated: see the module docstring
    if fsync:
        os.fsync(fd)
    if final is not None:  # created with another mode: the umask must not decide it
        os.fchmod(fd, final)
    if owner is not None:
        os.fchown(fd, owner[0], owner[1])


def _remove_quietly(path: str) -> None:
    try:  # noqa: SIM105 - contextlib is not imported: a helper starts without it
        os.unlink(path)
    except FileNotFoundError:
        pass


def _stat_tuple(st: os.stat_result) -> StatTuple:
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_uid,
            st.st_gid)


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes of ``fd``; None at the end of input (before or within them)."""
    parts = []
    while size:
        got = os.read(fd, min(size, 1 << 20))
        if not got:
            return None
        parts.append(got)
        size -= len(got)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _messages() -> Iterator[Any]:
    """Each request read from stdin, until it ends."""
    while True:
        head = _read_exactly(0, 4)
        size = int.from_bytes(head, "big") if head is not None else 0
        body = _read_exactly(0, size) if head is not None and 0 < size <= MAX_MESSAGE else None
        if body is None:
            return
        yield marshal.loads(body)


def _answer(answer: Any) -> None:
    reply = marshal.dumps(answer)
    _write_all(1, len(reply).to_bytes(4, "big") + reply)


def _write_job(argv: list[str]) -> None:
    """``write <racy_ns> <fsync 0|1>``: write the files of each request; answer each
    one's stat and, when asked (``hashed``), the sha256 of its bytes: the digest its
    record keeps, worked out here beside the write instead of in driftless."""
    import hashlib

    racy_ns, fsync = int(argv[0]), argv[1] == "1"
    for batch in _messages():
        answers: list[tuple[bool, tuple[Any, ...]]] = []
        for path, tmp, data, born, final, owner, hashed in batch:
            try:
                st = write_file(path, tmp, (data,), born=born, final=final, owner=owner,
                                racy_ns=racy_ns, fsync=fsync)
            except OSError as exc:
                answers.append((False, (exc.errno or 0, exc.strerror or type(exc).__name__)))
            else:
                digest = hashlib.sha256(data).hexdigest() if hashed else None
                answers.append((True, (*_stat_tuple(st), digest)))
        _answer(answers)


def _pack_job(argv: list[str]) -> None:
    """``pack``: the packed row of each document of each request."""
    import json

    messages = _messages()
    module, where, level, wbits, mem_level, zdict, magic = next(messages)
    new = _compressor(module, where, level, wbits, mem_level, zdict)
    encode = _canonical_encoder(json)
    for docs in messages:
        out: list[bytes | None] = []
        for doc in docs:
            if doc is None:
                out.append(None)
                continue
            try:
                text = encode(doc)
            except (TypeError, ValueError, RecursionError):
                out.append(None)
                continue
            z = new()
            out.append(magic + z.compress(text.encode()) + z.flush())
        _answer(out)


def _compressor(module: str, where: str | None, level: int, wbits: int, mem_level: int,
                zdict: bytes) -> Any:
    """What makes one document's compressor, as ``state.packed`` makes it here: a copy
    of a zlib one primed with the dictionary, or a new one of ISA-L's (``isal``'s
    ``isal_zlib``, imported from the directory driftless names, the one package this
    program imports beside the standard library: it runs without site packages)."""
    if module == "zlib":
        import zlib

        return zlib.compressobj(level, zlib.DEFLATED, wbits, mem_level,
                                zlib.Z_DEFAULT_STRATEGY, zdict).copy
    if module != "isal.isal_zlib" or not where:
        raise ValueError(f"no such compressor: {module}")
    sys.path.append(where)  # after the standard library's own directories
    try:
        deflate = __import__(module, fromlist=["compressobj"])
    finally:
        sys.path.remove(where)
    make, method, strategy = deflate.compressobj, deflate.DEFLATED, deflate.Z_DEFAULT_STRATEGY
    return lambda: make(level, method, wbits, mem_level, strategy, zdict)


def _canonical_encoder(json: Any) -> Any:
    """Canonical JSON (sorted keys, no spaces) of one document, as the state format
    writes it: the C encoder made once, not per document (``JSONEncoder.encode`` sets
    one up on every call: a sixth of packing a row). A document the C encoder cannot
    finish (it recursed too deep) goes to ``encode``, which says why."""
    encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    run = make(None, encoder.default, json.encoder.encode_basestring_ascii, None,
               encoder.key_separator, encoder.item_separator, True, False, True)

    def encode(doc: Any) -> str:
        try:
            return "".join(run(doc, 0))
        except RecursionError:
            return str(encoder.encode(doc))

    return encode


JOBS = {"write": _write_job, "pack": _pack_job}

NICE = 10
"""How much a helper lowers its own scheduling priority. Its work only pays when
it runs beside driftless's own, and driftless waits for what it hands out only
once it has nothing else to do: where they share a core, driftless comes first.
(With Linux's autogroup scheduling, on by default on most distributions,
niceness weighs only within the session's group of processes: a helper is not
put behind other sessions' programs by it.) A 10,000-file apply on disk: ~20 ms
less."""


def main(argv: list[str]) -> int:
    """``helper.py <job> [args]``: serve until stdin ends. SIGINT reaches it blocked
    (``helper_client`` spawns it so, which spares it the ``signal`` module's import)."""
    try:  # noqa: SIM105 - as in _remove_quietly
        os.nice(NICE)
    except OSError:
        pass
    try:
        JOBS[argv[1]](argv[2:])
    except (BrokenPipeError, EOFError, StopIteration, ValueError, TypeError, IndexError,
            KeyError, ImportError):
        return 1  # driftless went away, or spoke nonsense: it does the rest itself
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
