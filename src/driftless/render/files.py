"""Reading files for ``file``, ``filebase64`` and ``templatefile``.

Paths come from untrusted Git, so a file is read only when it is inside the
project or a root the operator allowed (``Policy.read_roots``), after
resolving symlinks; a FIFO, device or directory is never opened, and no
more than ``string_bytes`` are read (3/4 of it for base64). Messages name
the file through ``spell``, never the resolved path (it may hold a secret).
I/O: reads files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from driftless.model import reveal
from driftless.model.policy import Policy
from driftless.render.calls import Args, Budget, FunctionError, limit_error
from driftless.render.inputs import note_file, note_resolved
from driftless.render.spell import spell

__all__ = [
    "file_base64",
    "file_text",
    "os_reason",
    "read_fd",
    "read_project_file",
    "read_template",
]

_OUTSIDE = ("{name} is outside the project; a repository may only read its own files "
            "(the operator can allow more with --allow-read DIR)")


def read_project_file(base: Path, root: Path, name: Any, *, policy: Policy) -> str:
    """UTF-8 text of ``name`` (relative to ``base``), confined to the project and the roots."""
    return _utf8(_read(base, root, name, policy, None)[1], name)


def read_template(args: Args, index: int) -> tuple[Path, str]:
    """A template's resolved path and text, read once per string through the budget."""
    path, data = _read(args.base, args.root, args.raw[index], args.policy, args.budget)
    return path, _utf8(data, args.raw[index])


def _utf8(data: bytes, name: Any) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FunctionError(f"{spell(name)} is not UTF-8 text; use filebase64()") from None


def _read(base: Path, root: Path, name: Any, policy: Policy,
          budget: Budget | None, *, encoded: bool = False) -> tuple[Path, bytes]:
    """Bytes of a regular file allowed by the policy, within ``string_bytes``.

    ``encoded``: the bytes will be base64-encoded, so at most 3/4 of the limit.
    """
    path = _allowed_path(base, root, name, policy)
    if budget is not None and path in budget.files:
        return path, budget.files[path]
    data = _read_regular(path, name, policy.limits.string_bytes, encoded)
    if budget is not None:
        budget.files[path] = data
    return path, data


def _allowed_path(base: Path, root: Path, name: Any, policy: Policy) -> Path:
    """``name`` resolved through every symlink, refused unless the policy allows it."""
    plain = reveal(name)
    if not isinstance(plain, str) or not plain:
        raise FunctionError("expects a file path string")
    try:
        path = (base / plain).resolve()
    except (OSError, ValueError, RuntimeError):  # NUL byte, name too long, symlink loop
        raise FunctionError(f"{spell(name)} is not a usable file path") from None
    note_resolved(base / plain, path)
    if not policy.may_read(path, root):
        raise FunctionError(_OUTSIDE.format(name=spell(name)))
    return path


def _read_regular(path: Path, name: Any, limit: int, encoded: bool) -> bytes:
    """Read a regular file of at most ``limit`` bytes: stat first, so nothing blocks.

    ``O_NONBLOCK`` keeps a FIFO swapped in after the stat from blocking the
    open, and the inode comparison refuses whatever was swapped in.
    """
    try:
        before = os.stat(path)
    except OSError as exc:
        raise FunctionError(f"cannot read {spell(name)}: {os_reason(exc)}") from None
    _refuse_special(before, name, limit, encoded)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise FunctionError(f"cannot read {spell(name)}: {os_reason(exc)}") from None
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise FunctionError(f"{spell(name)} changed while being read")
        _refuse_special(now, name, limit, encoded)
        data = read_fd(fd, _readable(limit, encoded) + 1)
    except OSError as exc:
        raise FunctionError(f"cannot read the file: {os_reason(exc)}") from None
    finally:
        os.close(fd)
    _refuse_size(len(data), name, limit, encoded)  # it grew, or lies about its size
    note_file(path, data)
    return data


def _readable(limit: int, encoded: bool) -> int:
    """The most bytes a file may have: base64 turns 3 bytes into 4 characters."""
    return limit // 4 * 3 if encoded else limit


def _refuse_special(info: os.stat_result, name: Any, limit: int, encoded: bool) -> None:
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise FunctionError(f"{spell(name)} is {what}; only regular files can be read")
    _refuse_size(info.st_size, name, limit, encoded)


def _refuse_size(size: int, name: Any, limit: int, encoded: bool) -> None:
    if size > _readable(limit, encoded):
        shown = (size + 2) // 3 * 4 if encoded else size
        raise limit_error(("base64 of " if encoded else "") + spell(name), shown, limit)


def read_fd(fd: int, most: int) -> bytes:
    """At most ``most`` bytes of an open file; an ``OSError`` is left to the caller,
    which words it for its own reference (``file()``, ``secret.file:``)."""
    chunks: list[bytes] = []
    left = most
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def os_reason(exc: OSError) -> str:
    """The OS's reason in lowercase, without the path (it may hold a secret)."""
    reason = exc.strerror or type(exc).__name__
    return reason[:1].lower() + reason[1:]


def file_text(args: Args) -> str:
    """``file(path)``: a file's UTF-8 text, read once per string through the budget."""
    args.arity(1, 1, "(path)")
    _, data = _read(args.base, args.root, args.raw[0], args.policy, args.budget)
    return _utf8(data, args.raw[0])


def file_base64(args: Args) -> str:
    """``filebase64(path)``: a file's bytes as base64."""
    args.arity(1, 1, "(path)")
    _, data = _read(args.base, args.root, args.raw[0], args.policy, None, encoded=True)
    import base64  # only filebase64 needs it

    return base64.b64encode(data).decode("ascii")
