"""printf-style ``format(fmt, values...)``: every directive is parsed, checked
and sized before any output is made, so ``format("%999999999d", 1)`` is
refused without allocating anything. I/O: none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from driftless.model import Sensitive
from driftless.model.policy import Policy
from driftless.render.calls import Args, FunctionError, check_size, json_text, number_text, text_arg
from driftless.render.spell import spell

__all__ = ["format_values"]

_SPEC = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d*))?[hlL]?"
                   r"(?P<conv>.?)", re.DOTALL)
_NUMERIC = frozenset("diueEfFgGxXoc")
_CONVERSIONS = "s d i u f F e E g G x X o c %"


def format_values(args: Args) -> str:
    """printf-style ``format``: every directive is checked and sized before any output."""
    if not args.raw:
        raise FunctionError("takes (format, values...) like format(\"%s-%d\", name, 3)")
    fmt = text_arg(args.plain[0], "the format")
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
    return json_text(value, policy or Policy())
