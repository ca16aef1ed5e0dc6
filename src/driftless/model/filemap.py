"""Cache files: ``mapped`` reads one through a read-only memory map, not copied;
``write_private`` writes one whole, by temp file and rename.

The render cache and the SQLite row cache each load a ~10 MB file on every
plan of a 10,000-resource stack. ``read()`` first faults in 10 MB of fresh
memory and copies the file into it (measured 35-170 ms in a new process);
a map hands ``marshal`` and the HMAC the page cache itself (~0 ms).

Both caches replace a file by rename and never rewrite one in place, so a
map keeps seeing the file it opened. Only regular files, never through a
symlink, of at most ``most`` bytes are mapped; anything else is None. I/O:
the file named, and for writes its directories.
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = ["mapped", "write_private"]


@contextmanager
def mapped(path: Path, *, most: int) -> Iterator[memoryview | None]:
    """The file's bytes as a read-only view for the block; None when it is missing,
    empty, not a regular file, a symlink or larger than ``most``."""
    view = _map(path, most)
    try:
        yield view
    finally:
        if view is not None:
            base = view.obj
            view.release()
            with suppress(BufferError):  # a slice still held: freed with it
                base.close()  # type: ignore[attr-defined]


def _map(path: Path, most: int) -> memoryview | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size <= most:
            return None
        return memoryview(mmap.mmap(fd, 0, access=mmap.ACCESS_READ))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def write_private(path: Path, data: Iterable[bytes], *, dirs: Sequence[Path] = ()) -> bool:
    """Write the chunks of ``data`` to ``path`` (mode 0600) by temp file + rename, after making each
    of ``dirs`` a real directory (0700). False, writing nothing, when one of them is
    not one: a repository's symlinked ``.driftless`` must not lead writes elsewhere.
    ``OSError`` as the system raises it; a failed write, or ``data`` raising while it
    is produced (a value marshal cannot keep), leaves no temp file behind."""
    for part in dirs:
        with suppress(FileExistsError):
            os.mkdir(part, 0o700)
        if not stat.S_ISDIR(os.lstat(part).st_mode):
            return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with suppress(FileNotFoundError):
        tmp.unlink()  # a leftover (or a planted link): never written through
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in data:
                fh.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    return True
