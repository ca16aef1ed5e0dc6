"""The built-in functions of ``${...}`` — a short list on purpose.

Arguments come from untrusted Git, so every function is bounded:

* ``file``, ``filebase64`` and ``templatefile`` read regular files inside the
  project or a root the operator allowed (``Policy.read_roots``), after
  resolving symlinks, and never open a FIFO, device or directory;
* no function returns a string longer than the limit ``string_bytes``, and
  results are sized *before* they are built (``format("%999999999d", 1)``
  is refused without allocating anything);
* one string's functions together may return at most ``TOTAL_FACTOR`` times
  that limit (``Budget``), so repeating a call cannot multiply memory or time.

Functions receive their arguments as evaluated (secrets still wrapped) and
compute on revealed copies; messages show arguments through ``spell``, so a
secret prints as ``(sensitive)``. The caller re-wraps the result as
``Sensitive`` when any argument was secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from driftless.model import Sensitive, reveal
from driftless.model.policy import Policy, limit_hint
from driftless.render.spell import kind, spell

__all__ = [
    "FUNCTIONS",
    "MAX_TEMPLATE_DEPTH",
    "TEMPLATE_COST",
    "TOTAL_FACTOR",
    "Args",
    "Budget",
    "FunctionError",
    "check_size",
    "read_project_file",
    "read_template",
]

TOTAL_FACTOR = 8  # one string's functions may return this many times string_bytes in all
MAX_TEMPLATE_DEPTH = 8  # templatefile inside templatefile
_CALL_COST = 64  # what a call costs the budget besides its result: bounds empty calls too
TEMPLATE_COST = 4096  # what expanding a template costs besides its text and result
_OUTSIDE = ("{name} is outside the project; a repository may only read its own files "
            "(the operator can allow more with --allow-read DIR)")


class FunctionError(ValueError):
    """A function was called wrongly; the message says how to call it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def _limit_error(what: str, size: int | float, limit: int) -> FunctionError:
    shown = "far more" if math.isinf(size) else f"{int(size)}"
    return FunctionError(f"{what} would be {shown} characters, over the limit string_bytes "
                         f"({limit})", hint=limit_hint("string_bytes"))


def check_size(size: int | float, policy: Policy, what: str = "the result") -> None:
    """Refuse a result of ``size`` characters over ``string_bytes``, before building it."""
    limit = policy.limits.string_bytes
    if size > limit:
        raise _limit_error(what, size, limit)


@dataclass
class Budget:
    """What one YAML string's functions may cost together, and what they share.

    Calls inside a list (``[file("a"), file("a"), ...]``) or inside nested
    templates each stay under ``string_bytes`` but could add up without
    bound; the budget caps the sum. It also holds the templates being
    expanded (to refuse a template including itself) and the files read.
    """

    policy: Policy
    spent: int = 0
    templates: list[Path] = field(default_factory=list)
    files: dict[Path, bytes] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """The most characters this string's functions may return in all."""
        return TOTAL_FACTOR * self.policy.limits.string_bytes

    def charge(self, size: int) -> None:
        """Count a result of ``size`` characters (plus the call itself)."""
        self.spent += size + _CALL_COST
        if self.spent > self.total:
            raise FunctionError(
                f"the functions of this one value return more than {self.total} characters "
                f"in all ({TOTAL_FACTOR} times the limit string_bytes)",
                hint=limit_hint("string_bytes"))


@dataclass(frozen=True)
class Args:
    """One call's arguments and what the function may use besides them.

    ``raw`` keeps secrets wrapped and is only for messages (through
    ``shown``); ``plain`` is what functions compute with.
    """

    raw: tuple[Any, ...]
    base: Path
    root: Path
    budget: Budget

    @cached_property
    def plain(self) -> list[Any]:
        """The arguments with secrets revealed: compute with these, never print them."""
        return [reveal(a) for a in self.raw]

    @property
    def policy(self) -> Policy:
        """The operator's policy: readable roots and limits."""
        return self.budget.policy

    def shown(self, index: int) -> str:
        """Argument ``index`` for a message: YAML spelling, ``(sensitive)`` for a secret."""
        return spell(self.raw[index])

    def arity(self, low: int, high: int, usage: str) -> None:
        """Refuse a call with the wrong number of arguments."""
        if not low <= len(self.raw) <= high:
            raise FunctionError(f"takes {usage}, got {len(self.raw)} argument(s)")


# --- reading files -----------------------------------------------------------------------


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
        raise FunctionError(f"cannot read {spell(name)}: {_reason(exc)}") from None
    _refuse_special(before, name, limit, encoded)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise FunctionError(f"cannot read {spell(name)}: {_reason(exc)}") from None
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise FunctionError(f"{spell(name)} changed while being read")
        _refuse_special(now, name, limit, encoded)
        data = _read_fd(fd, _readable(limit, encoded) + 1)
    finally:
        os.close(fd)
    _refuse_size(len(data), name, limit, encoded)  # it grew, or lies about its size
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
        raise _limit_error(("base64 of " if encoded else "") + spell(name), shown, limit)


def _read_fd(fd: int, most: int) -> bytes:
    chunks: list[bytes] = []
    left = most
    while left > 0:
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except OSError as exc:
            raise FunctionError(f"cannot read the file: {_reason(exc)}") from None
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _reason(exc: OSError) -> str:
    """The OS's reason in lowercase, without the path (it may hold a secret)."""
    reason = exc.strerror or type(exc).__name__
    return reason[:1].lower() + reason[1:]


def _file(args: Args) -> str:
    args.arity(1, 1, "(path)")
    _, data = _read(args.base, args.root, args.raw[0], args.policy, args.budget)
    return _utf8(data, args.raw[0])


def _filebase64(args: Args) -> str:
    args.arity(1, 1, "(path)")
    _, data = _read(args.base, args.root, args.raw[0], args.policy, None, encoded=True)
    return base64.b64encode(data).decode("ascii")


# --- strings -----------------------------------------------------------------------------


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FunctionError(f"expects {what} to be a string, got {kind(value)}")
    return number_text(value) if isinstance(value, int) else str(value)


def number_text(value: int) -> str:
    """Digits of an integer; one too long for ``str`` (4300 digits) is an error, not a crash."""
    if value.bit_length() > 10_000:
        raise FunctionError(f"cannot print {spell(value)}")
    return str(value)


def _join(args: Args) -> str:
    args.arity(2, 2, "(separator, list)")
    sep, items = args.plain
    if not isinstance(items, list | tuple):
        raise FunctionError(f"expects a list as its second argument, got {kind(items)}")
    sep = _text(sep, "the separator")
    parts = [_text(i, "each item") for i in items]
    check_size(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), args.policy)
    return sep.join(parts)


def _lookup(args: Args) -> Any:
    args.arity(2, 3, "(map, key[, default])")
    table, key = args.plain[0], args.plain[1]
    if not isinstance(table, Mapping):
        raise FunctionError(f"expects a map as its first argument, got {kind(table)}")
    if isinstance(key, str | int | float | bool) and key in table:
        return table[key]
    if len(args.raw) == 3:
        return args.raw[2]
    known = "(sensitive)" if isinstance(args.raw[0], Sensitive) else (
        ", ".join(spell(k) for k in sorted(map(str, table))[:20]) or "none")
    raise FunctionError(f"key {args.shown(1)} is not in the map (keys: {known}); give a default")


def _base64(args: Args) -> str:
    args.arity(1, 1, "(string)")
    data = _text(args.plain[0], "its argument").encode()
    check_size((len(data) + 2) // 3 * 4, args.policy)
    return base64.b64encode(data).decode("ascii")


def _sha256(args: Args) -> str:
    args.arity(1, 1, "(string)")
    return hashlib.sha256(_text(args.plain[0], "its argument").encode()).hexdigest()


def _jsonencode(args: Args) -> str:
    args.arity(1, 1, "(value)")
    return _json(args.plain[0], args.policy)


def _json(value: Any, policy: Policy) -> str:
    """Compact JSON with sorted keys, sized before it is built."""
    check_size(json_size(value, policy.limits.string_bytes + 1), policy)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise FunctionError("cannot encode this value as JSON (.inf, .nan or an integer "
                            "too long to print)") from None
    except TypeError:
        raise FunctionError("cannot encode this value as JSON (map keys must all be "
                            "strings)") from None


def json_size(value: Any, most: int) -> int:
    """Characters of ``value`` as compact JSON, counting no further than ``most``.

    Iterative, and each distinct string is measured once, so a list holding
    the same 4 MiB string a million times costs one measurement and stops early.
    """
    encode = json.encoder.encode_basestring_ascii
    measured: dict[int, int] = {}
    total, todo = 0, [value]
    while todo and total < most:
        item = todo.pop()
        if isinstance(item, str):
            if id(item) not in measured:
                measured[id(item)] = len(encode(item)) if len(item) < most else len(item)
            total += measured[id(item)] + 1
        elif isinstance(item, Mapping):
            total += 2 + len(item)
            for key, child in item.items():
                todo.append(child)
                todo.append(str(key))
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            todo.extend(item)
        else:
            total += _scalar_size(item)
    return total


def _scalar_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 2
    return 24  # a float, boolean or null


# --- format ------------------------------------------------------------------------------

_SPEC = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?[hlL]?"
                   r"(?P<conv>.?)", re.DOTALL)
_NUMERIC = frozenset("diueEfFgGxXoc")
_CONVERSIONS = "s d i u f F e E g G x X o c %"


def _format(args: Args) -> str:
    """printf-style ``format``: every directive is checked and sized before any output."""
    if not args.raw:
        raise FunctionError("takes (format, values...) like format(\"%s-%d\", name, 3)")
    fmt = _text(args.plain[0], "the format")
    pieces: list[Callable[[], str] | str] = []
    size, used = 0, 1
    pos = 0
    for m in _SPEC.finditer(fmt):
        pieces.append(fmt[pos:m.start()])
        size += m.start() - pos
        piece, used = _directive(m, args, used, fmt)
        size += piece[1]
        check_size(size, args.policy)
        pieces.append(piece[0])
        pos = m.end()
    pieces.append(fmt[pos:])
    if used != len(args.raw):
        raise FunctionError(f"the format takes {used - 1} value(s) but {len(args.raw) - 1} "
                            "were given")
    check_size(size + len(fmt) - pos, args.policy)
    return "".join(p() if callable(p) else p for p in pieces)


def _directive(m: re.Match[str], args: Args, used: int,
               fmt: str) -> tuple[tuple[Callable[[], str] | str, int], int]:
    """One ``%...`` directive: a deferred render and its size, and the next argument index."""
    conv = m["conv"]
    if conv == "%":
        return ("%", 1), used
    if conv not in _NUMERIC and conv != "s":
        shown = "the end of the format" if not conv else spell(conv) if not isinstance(
            args.raw[0], Sensitive) else "(sensitive)"
        raise FunctionError(f"unsupported directive at {shown}; use one of: {_CONVERSIONS}")
    width, used = _count(m["width"], args, used, "width")
    prec, used = _count(m["prec"], args, used, "precision")
    if used >= len(args.raw):
        raise FunctionError(f"the format needs more than the {len(args.raw) - 1} value(s) "
                            "given")
    raw, value = args.raw[used], args.plain[used]
    body = _body_size(conv, value, raw, prec, args.policy)
    size = max(abs(width or 0), body)
    spec = f"%{m['flags']}{width if width is not None else ''}" + (
        f".{prec}" if prec is not None else "") + conv
    return (_render_directive(spec, conv, value, raw), size), used + 1


def _count(text: str | None, args: Args, used: int, what: str) -> tuple[int | None, int]:
    """A width or precision: digits, ``*`` (taken from the values), or absent."""
    if text is None:
        return None, used
    if text != "*":
        return (int(text) if len(text) <= 12 else 10**12) if text else 0, used
    if used >= len(args.raw):
        raise FunctionError(f"the format needs a value for '*' ({what})")
    value = args.plain[used]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FunctionError(f"'*' ({what}) needs an integer, got {spell(args.raw[used])}")
    if what == "precision" and value < 0:
        raise FunctionError("'*' (precision) cannot be negative")
    return value, used + 1


def _body_size(conv: str, value: Any, raw: Any, prec: int | None, policy: Policy) -> int:
    """Characters a directive prints before padding; refuses wrong types."""
    if conv == "s":
        return len(_as_text(value, policy))
    if conv == "c":
        return 1
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FunctionError(f"%{conv} needs a number, got {spell(raw)}")
    if isinstance(value, float) and not math.isfinite(value):
        if conv in "eEfFgG":
            return 4
        raise FunctionError(f"%{conv} cannot print {spell(raw)}")
    if conv in "xXo" and isinstance(value, float):
        raise FunctionError(f"%{conv} needs an integer, got {spell(raw)}")
    digits = _digits(value)
    if conv in "fF":
        return digits + 2 + (6 if prec is None else prec)
    if conv in "eEgG":
        return 10 + (6 if prec is None else prec)
    return digits + 2 + (prec or 0)


def _digits(value: int | float) -> int:
    """Decimal digits of the whole part, from the bit length: str() of a long int raises."""
    whole = int(abs(value))
    return whole.bit_length() * 30103 // 100000 + 1


def _render_directive(spec: str, conv: str, value: Any, raw: Any) -> Callable[[], str]:
    """Formatting of one sized directive, run only after the whole result fits."""
    def render() -> str:
        shown = _as_text(value, None) if conv == "s" else value
        try:
            return spec % (shown,)
        except (TypeError, ValueError, OverflowError):
            raise FunctionError(f"%{conv} cannot print {spell(raw)}") from None
    return render


def _as_text(value: Any, policy: Policy | None) -> str:
    """``%s`` of a value: strings as they are, scalars in YAML spelling, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        if isinstance(value, int):
            return number_text(value)
        return str(value) if math.isfinite(value) else spell(value)
    return _json(value, policy or Policy())


Pure = Callable[[Args], Any]

FUNCTIONS: Mapping[str, Pure | None] = {
    "base64encode": _base64,
    "file": _file,
    "filebase64": _filebase64,
    "format": _format,
    "join": _join,
    "jsonencode": _jsonencode,
    "lookup": _lookup,
    "sha256": _sha256,
    "templatefile": None,  # needs the evaluator itself
}
