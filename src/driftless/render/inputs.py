"""What one render consulted: files, existence checks, symlinks, listings, environment.

The render cache (``cache``) may reuse a render only when every input is as
it was, so while a cached render runs, each place in ``render`` that reads
the outside world reports here: the bytes of every file read (stack files,
overlays, values files, ``file()``/``templatefile()``), every ``is_file``
probe, every path whose symlinks were resolved (confinement decisions and
``source:`` paths depend on where a link points), overlay listings, and the
``DRIFTLESS_VAR_*`` variables. A reference whose value cannot be checked
again cheaply and safely (``${secret.*}``, a SOPS file, a placeholder for a
missing secret) makes the render uncacheable instead.

The recorder of the render in progress is found through a context variable
rather than passed down every call: the read points sit deep in the
evaluator, and outside a cached render each report is one lookup that
finds nothing. ``Inputs.still_hold`` repeats every check; any difference,
and any error while checking, means "render again". I/O: the checks read,
stat and resolve the recorded paths.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

__all__ = [
    "Inputs",
    "glob_sorted",
    "is_file",
    "not_cacheable",
    "note_deferred",
    "note_environ",
    "note_file",
    "note_resolved",
    "recording",
]

# the most a recorded file may have when it is checked again; a render reads no
# more (file_bytes and string_bytes are far smaller unless the operator raises them)
_MOST = 1 << 30
ENV_PREFIX = "DRIFTLESS_VAR_"

Check = tuple[str, str, Any]  # (what, path or name, what was seen)


class Inputs:
    """The inputs of one render, as checks to repeat, digested under ``key``."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.checks: dict[tuple[str, str], Any] = {}
        self.why_not: str | None = None
        # id of each Deferred the render made -> (it, its scope, whether quoted)
        self.deferred: dict[int, tuple[Any, Any, bool]] = {}

    def digest(self, data: bytes) -> str:
        """A keyed digest: the cache file never holds what a file contained."""
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()

    def saw(self, what: str, name: str, value: Any) -> None:
        """Record one observation; the same input seen two ways makes it uncacheable."""
        key = (what, name)
        before = self.checks.setdefault(key, value)
        if before != value:
            self.why_not = f"{name} changed during the render"

    def as_tuple(self) -> tuple[Check, ...]:
        """The checks in a stable order, for the cache file."""
        return tuple((w, n, v) for (w, n), v in sorted(self.checks.items()))

    def still_hold(self, checks: tuple[Check, ...], environ: Mapping[str, str]) -> bool:
        """Whether every recorded observation is still what it was."""
        try:
            return all(self._holds(w, n, v, environ) for w, n, v in checks)
        except (OSError, ValueError, RuntimeError, TypeError):
            return False

    def _holds(self, what: str, name: str, value: Any, environ: Mapping[str, str]) -> bool:
        if what == "file":
            return bool(_file_digest(self, name) == value)
        if what == "is_file":
            return bool(Path(name).is_file() == value)
        if what == "resolved":
            return bool(str(Path(name).resolve()) == value)
        if what == "glob":
            directory, pattern = name.rsplit("\0", 1)
            return bool(_names(Path(directory), pattern) == value)
        if what == "environ":
            return bool(self.digest(_environ_text(environ, name)) == value)
        return False


def _file_digest(inputs: Inputs, name: str) -> str | None:
    """The keyed digest of a regular file's bytes; None for anything else."""
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MOST:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return inputs.digest(b"".join(chunks))


def _names(directory: Path, pattern: str) -> tuple[str, ...]:
    return tuple(str(p) for p in sorted(directory.glob(pattern)))


def _environ_text(environ: Mapping[str, str], prefix: str) -> bytes:
    items = sorted((k, v) for k, v in environ.items() if k.startswith(prefix))
    return "\0".join(f"{k}={v}" for k, v in items).encode("utf-8", "surrogatepass")


_ACTIVE: ContextVar[Inputs | None] = ContextVar("driftless_render_inputs", default=None)


@contextmanager
def recording(key: bytes) -> Iterator[Inputs]:
    """Record the inputs of the render run inside the block."""
    inputs = Inputs(key)
    token = _ACTIVE.set(inputs)
    try:
        yield inputs
    finally:
        _ACTIVE.reset(token)


def note_file(path: Path | str, data: bytes) -> None:
    """A file render read, with the bytes it got."""
    inputs = _ACTIVE.get()
    if inputs is not None:
        inputs.saw("file", str(path), inputs.digest(data))


def note_resolved(path: Path | str, real: Path | str) -> None:
    """A path whose symlinks were resolved (to decide confinement or a ``source:``)."""
    inputs = _ACTIVE.get()
    if inputs is not None:
        inputs.saw("resolved", str(path), str(real))


def note_environ(environ: Mapping[str, str], prefix: str = ENV_PREFIX) -> None:
    """Environment variables starting with ``prefix`` were consulted."""
    inputs = _ACTIVE.get()
    if inputs is not None:
        inputs.saw("environ", prefix, inputs.digest(_environ_text(environ, prefix)))


def note_deferred(value: Any, scope: Any, *, quoted: bool) -> None:
    """A value waiting on other resources was made in ``scope`` (the cache stores
    its expression and what the scope held, and makes it again when loaded)."""
    inputs = _ACTIVE.get()
    if inputs is not None:
        inputs.deferred[id(value)] = (value, scope, quoted)


def not_cacheable(why: str) -> None:
    """The render used something that cannot be checked again (a secret reference)."""
    inputs = _ACTIVE.get()
    if inputs is not None and inputs.why_not is None:
        inputs.why_not = why


def is_file(path: Path) -> bool:
    """``path.is_file()``, recorded."""
    found = path.is_file()
    inputs = _ACTIVE.get()
    if inputs is not None:
        inputs.saw("is_file", str(path), found)
    return found


def glob_sorted(directory: Path, pattern: str) -> list[Path]:
    """``sorted(directory.glob(pattern))``, recorded."""
    found = sorted(directory.glob(pattern))
    inputs = _ACTIVE.get()
    if inputs is not None:
        inputs.saw("glob", f"{directory}\0{pattern}", tuple(str(p) for p in found))
    return found
