"""Calls inside compiled templates: arguments, the budget charge, fast paths.

Part of ``compiled``: a call of a pure function evaluates its arguments
(known ones taken as they are), runs a fast path for the common case of
``format`` (bare ``%d``/``%s``) and ``lookup`` (a key found, or a default)
or else the function itself, and charges its result to the string's
budget exactly as ``evaluate._call`` does. Whatever the fast path does not
handle is ``General`` (the function itself decides); whatever would be an
error or over a limit is ``Slow`` (the general evaluator words it). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "CALL_COST",
    "SCALARS",
    "SHORT_DIGITS",
    "SHORT_INT",
    "Code",
    "Compiled",
    "Const",
    "Fast",
    "General",
    "Part",
    "Slow",
    "args_of",
    "charged",
    "code_of",
    "count_index",
    "format_fast",
    "format_index",
    "lookup_fast",
    "lookup_known",
]

# (count.index or each.key, (each.key, each.value) or None, budget cell) -> value
Code = Callable[[Any, Any, list[int]], Any]
# (count.index or each.key, (each.key, each.value) or None) -> the string's value
Compiled = Callable[[Any, Any], Any]
# a function's common case on evaluated arguments; ``General`` for the rest
Fast = Callable[[tuple[Any, ...]], Any]

CALL_COST = 64  # what ``Budget.charge`` adds for each call besides its result
SCALARS = frozenset({str, int, float, bool, type(None)})
_MAPS = (dict, Mapping)  # dict first: a Mapping check alone costs more than a lookup
_DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)  # only bare %d, %s and %% are compiled
SHORT_INT = 1 << 62  # far below what str() refuses: its digits are cheap and exact
SHORT_DIGITS = 22  # the most a short int sizes (%d: from 62 bits) or prints (%s)


class Slow(Exception):
    """This instance needs the general evaluator (an error, or an unusual value)."""


class General(Exception):
    """A fast path met a value it does not handle: call the function itself."""


class Const:
    """An expression whose value is known when compiling (a literal, a variable)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


Part = Code | Const


def code_of(part: Part) -> Code:
    """``part`` as code (a known value is returned as it is)."""
    if isinstance(part, Const):
        value = part.value
        return lambda _i, _e, _c: value
    return part


def count_index(i: Any, _e: Any, _c: list[int]) -> Any:
    """``count.index`` (known by identity: ``args_of`` passes it on as it is)."""
    return i


_Args = Callable[[Any, Any, list[int]], tuple[Any, ...]]


def args_of(parts: list[Part]) -> _Args:
    """A call's arguments, evaluated in order (known ones taken as they are)."""
    if all(isinstance(p, Const) for p in parts):
        known = tuple(p.value for p in parts if isinstance(p, Const))
        return lambda _i, _e, _c: known
    codes = [code_of(p) for p in parts]
    if len(codes) in (2, 3) and isinstance(parts[0], Const):  # format("..", x), lookup(var.m, ..)
        return _args_after(parts[0].value, codes[1:])
    if len(codes) == 1:
        a = codes[0]
        return lambda i, e, c: (a(i, e, c),)
    if len(codes) == 2:
        a, b = codes
        return lambda i, e, c: (a(i, e, c), b(i, e, c))
    if len(codes) == 3:
        a, b, d = codes
        return lambda i, e, c: (a(i, e, c), b(i, e, c), d(i, e, c))
    return lambda i, e, c: tuple([f(i, e, c) for f in codes])


def _args_after(first: Any, codes: list[Code]) -> _Args:
    """Arguments after a known first one; ``count.index`` taken as it is."""
    if len(codes) == 1:
        a = codes[0]
        if a is count_index:
            return lambda i, _e, _c: (first, i)
        return lambda i, e, c: (first, a(i, e, c))
    a, b = codes
    return lambda i, e, c: (first, a(i, e, c), b(i, e, c))


def charged(arguments: _Args, fast: Fast | None, general: Fast, total: int) -> Code:
    """The call with its result charged to the string's budget, as ``evaluate._call``."""
    def charge(c: list[int], result: Any) -> Any:
        c[0] += (len(result) if result.__class__ is str else 0) + CALL_COST
        if c[0] > total:
            raise Slow
        return result

    if fast is None:
        return lambda i, e, c: charge(c, general(arguments(i, e, c)))
    quick = fast

    def call(i: Any, e: Any, c: list[int]) -> Any:
        raw = arguments(i, e, c)
        try:
            result = quick(raw)
        except General:
            result = general(raw)
        c[0] += (len(result) if result.__class__ is str else 0) + CALL_COST
        if c[0] > total:
            raise Slow
        return result
    return call



def lookup_fast(raw: tuple[Any, ...]) -> Any:
    """``lookup(map, key[, default])`` found in a plain map, as ``functions._lookup``."""
    table, key = raw[0], raw[1]
    if isinstance(table, _MAPS) and key.__class__ in SCALARS and key is not None:
        if key in table:
            return table[key]
        if len(raw) == 3:
            return raw[2]
    raise General


def lookup_known(table: Any, parts: list[Part], general: Fast, total: int) -> Code | None:
    """``lookup(<a known map>, key, default)`` as ``charged`` makes it with
    ``lookup_fast``, its arguments, look-up and charge in one step (None when the
    map is not a dict, or there is no default)."""
    if not isinstance(table, dict) or len(parts) != 3:
        return None
    key_of, default_of = code_of(parts[1]), code_of(parts[2])

    def looked(i: Any, e: Any, c: list[int]) -> Any:
        key = key_of(i, e, c)
        default = default_of(i, e, c)
        if key.__class__ in SCALARS and key is not None:
            # as lookup_fast: ``in`` and ``[]``, whatever ``get`` a dict subclass has
            result = table[key] if key in table else default  # noqa: SIM401
        else:
            result = general((table, key, default))
        c[0] += (len(result) if result.__class__ is str else 0) + CALL_COST
        if c[0] > total:
            raise Slow
        return result
    return looked


def _directives(fmt: Any, limit: int) -> tuple[list[str], list[bool], str, int] | None:
    """A literal format of bare ``%d``/``%s``/``%%`` directives: the text before each
    directive, whether each is %d, the text after the last, and the room left for
    the values (None for anything else)."""
    if not isinstance(fmt, str):
        return None
    texts: list[str] = []
    digits: list[bool] = []  # True: %d, False: %s
    pos = 0
    for m in _DIRECTIVE.finditer(fmt):
        if m[1] not in ("d", "s", "%"):
            return None  # flags, widths and other conversions: the function itself
        if m[1] == "%":
            continue
        texts.append(fmt[pos:m.start()].replace("%%", "%"))
        digits.append(m[1] == "d")
        pos = m.end()
    tail = fmt[pos:].replace("%%", "%")
    return texts, digits, tail, limit - sum(map(len, texts)) - len(tail)


def format_fast(fmt: Any, count: int, limit: int) -> Fast | None:
    """``format`` of a literal format of bare ``%d``/``%s``/``%%`` directives, as
    ``format_spec`` prints and sizes them (%d from the bit length, before printing)."""
    found = _directives(fmt, limit)
    if found is None or len(found[1]) != count:
        return None
    texts, digits, tail, room = found
    if count == 1:
        return _format_one(texts[0], digits[0], tail, room)
    plan = list(zip(range(1, count + 1), texts, digits, strict=True))

    def format_(raw: tuple[Any, ...]) -> str:
        out: list[str] = []
        size = 0
        for n, text, number in plan:
            value = raw[n]
            if value.__class__ is int and -SHORT_INT < value < SHORT_INT:
                shown = str(value)
                size += value.bit_length() * 30103 // 100000 + 3 if number else len(shown)
            elif not number and isinstance(value, str):
                shown = value
                size += len(shown)
            else:
                raise General
            out.append(text)
            out.append(shown)
        if size > room:
            raise General
        out.append(tail)
        return "".join(out)
    return format_


def format_index(fmt: Any, limit: int, total: int, call: Code) -> Code | None:
    """``format(fmt, count.index)`` for a literal ``fmt`` of one bare directive that
    any short int fits: ``call`` (the call ``charged`` made) with its arguments,
    fast path and charge in one step for a short index (None for other formats)."""
    found = _directives(fmt, limit)
    if found is None or len(found[1]) != 1 or found[3] < SHORT_DIGITS:
        return None
    head, tail = found[0][0], found[2]
    cost = len(head) + len(tail) + CALL_COST

    def indexed(i: Any, e: Any, c: list[int]) -> Any:
        if i.__class__ is not int or not -SHORT_INT < i < SHORT_INT:
            return call(i, e, c)
        shown = str(i)
        c[0] += cost + len(shown)
        if c[0] > total:
            raise Slow
        return head + shown + tail
    return indexed


def _format_one(head: str, number: bool, tail: str, room: int) -> Fast:
    """``format`` with one directive: a short int needs no sizing when it always fits."""
    short_fits = room >= SHORT_DIGITS

    def format_one(raw: tuple[Any, ...]) -> str:
        value = raw[1]
        if value.__class__ is int and -SHORT_INT < value < SHORT_INT:
            if short_fits:
                return head + str(value) + tail
            shown = str(value)
            size = value.bit_length() * 30103 // 100000 + 3 if number else len(shown)
        elif not number and isinstance(value, str):
            shown = value
            size = len(shown)
        else:
            raise General
        if size > room:
            raise General
        return head + shown + tail
    return format_one
