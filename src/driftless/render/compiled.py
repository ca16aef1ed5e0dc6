"""Templates of repeated resources compiled once, evaluated per instance.

A resource with ``count: 10000`` evaluates the same few strings ten thousand
times with only ``count.index`` (or ``each``) changing. ``compile_template``
turns one such string into a closure that takes the instance and returns the
value the evaluator (``evaluate.resolve_string``) would give, with the parse,
name checks, variable look-ups and format parsing done once.

It covers the common, plain case only: references to ``var.*`` (whose values
hold no secret and nothing unknown), ``count.index``, ``each.key`` and
``each.value`` (when no instance's value holds a secret), literals, and calls
of the pure functions. Anything else (secrets, other resources, stack
outputs, ``host``/``node``, files, templates) is not compiled, and the caller
evaluates the string the general way. A compiled string that meets anything
unusual for one instance (a missing key, a value of another type, a limit)
raises ``Slow``, and the caller evaluates that instance the general way too,
which reports the error exactly as before (message, hint and offset). So the
compiled form never has to word an error, and the limits on untrusted input
(``string_bytes`` for every string, the ``Budget`` of one string's
functions) are checked here and refused by falling back. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from driftless.model import Deferred, Sensitive, Unknown
from driftless.render.calls import TOTAL_FACTOR, Args, Budget, FunctionError
from driftless.render.expr import (
    Call,
    ExprSyntaxError,
    ListLit,
    Lit,
    MapLit,
    Node,
    parse_template,
)
from driftless.render.expr import (
    Path as PathNode,
)
from driftless.render.functions import FUNCTIONS
from driftless.render.scope import Scope

__all__ = ["Compiled", "Compiler", "Plainness", "Slow"]

# (count.index or each.key, (each.key, each.value) or None, budget cell) -> value
_Code = Callable[[Any, Any, list[int]], Any]
# (count.index or each.key, (each.key, each.value) or None) -> the string's value
Compiled = Callable[[Any, Any], Any]
# a function's common case on evaluated arguments; ``_General`` for the rest
_Fast = Callable[[tuple[Any, ...]], Any]

_CALL_COST = 64  # what ``Budget.charge`` adds for each call besides its result
_PURE = frozenset({"base64encode", "format", "join", "jsonencode", "lookup", "sha256"})
_SCALARS = frozenset({str, int, float, bool, type(None)})
_DIRECTIVE = re.compile(r"%(.?)", re.DOTALL)  # only bare %d, %s and %% are compiled
_SHORT_INT = 1 << 62  # far below what str() refuses: its digits are cheap and exact
_SHORT_DIGITS = 22  # the most a short int sizes (%d: from 62 bits) or prints (%s)


class Slow(Exception):
    """This instance needs the general evaluator (an error, or an unusual value)."""


class _NotCompiled(Exception):
    """The string is outside what compiles: it is always evaluated the general way."""


class Plainness:
    """Whether values hold no secret, unknown or deferred value (nor odd types).

    One per render: each container is walked once however many resources
    refer to it (a big map variable used by a thousand resources is not
    walked a thousand times).
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[Any, bool]] = {}

    def __call__(self, value: Any) -> bool:
        if value.__class__ in _SCALARS:
            return True
        seen = self._seen.get(id(value))
        if seen is not None and seen[0] is value:
            return seen[1]
        result = _plain(value)
        self._seen[id(value)] = (value, result)  # the value is kept: its id stays its own
        return result


def _plain(value: Any) -> bool:
    """Whether ``value`` holds no secret, unknown or deferred value (nor odd types)."""
    todo = [value]
    while todo:
        v = todo.pop()
        if v.__class__ in _SCALARS:
            continue
        if isinstance(v, Sensitive | Unknown | Deferred):
            return False
        if isinstance(v, Mapping):
            todo.extend(v.values())
            todo.extend(v.keys())
        elif isinstance(v, list | tuple):
            todo.extend(v)
        elif not isinstance(v, str | int | float):
            return False
    return True


class _Const:
    """An expression whose value is known when compiling (a literal, a variable)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_Part = _Code | _Const


def _code(part: _Part) -> _Code:
    if isinstance(part, _Const):
        value = part.value
        return lambda _i, _e, _c: value
    return part


class Compiler:
    """Compiles the strings of one repeated resource against one scope.

    ``scope`` is what every instance shares (its ``count_index``/``each`` are
    ignored); ``mode`` is the resource's ``count`` or ``for_each``;
    ``each_plain`` says that no instance's ``each.value`` holds a secret or
    an unknown value; ``plainness`` is the render's (see ``Plainness``).
    """

    def __init__(self, scope: Scope, mode: str, plainness: Plainness, *,
                 each_plain: bool = False) -> None:
        self.scope = scope
        self.mode = mode
        self.each_plain = each_plain
        self.plainness = plainness
        self.limit = scope.policy.limits.string_bytes
        self.total = TOTAL_FACTOR * self.limit
        self._budget = Budget(scope.policy)  # for Args only: pure functions never charge it

    def template(self, text: str) -> Compiled | None:
        """The compiled form of ``text`` (holding ``${``), or None when it does not compile."""
        if self.scope.locals_only is not None or self.mode not in ("count", "for_each"):
            return None
        try:
            tpl = parse_template(text)
            if tpl.literal is not None:
                literal = tpl.literal
                return lambda _i, _e: literal
            if tpl.single is not None:
                return _single(self._node(tpl.single))
            return self._joined([_Const(p) if isinstance(p, str) else self._node(p)
                                 for p in tpl.parts])
        except (_NotCompiled, ExprSyntaxError, RecursionError):
            return None

    # -- the whole string -------------------------------------------------------------
    def _joined(self, parts: list[_Part]) -> Compiled:
        """Text and expressions joined; known texts merged now, the size checked per instance."""
        seq: list[str | _Code] = []
        for part in parts:
            if not isinstance(part, _Const):
                seq.append(part)
                continue
            try:
                text = _text(part.value)
            except Slow:
                raise _NotCompiled from None  # refused for every instance: the general way
            if seq and isinstance(seq[-1], str):
                seq[-1] += text
            else:
                seq.append(text)
        room = self.limit - sum(len(p) for p in seq if isinstance(p, str))
        codes = [p for p in seq if not isinstance(p, str)]
        if not codes and room >= 0:
            known = "".join(p for p in seq if isinstance(p, str))
            return lambda _i, _e: known
        if len(codes) == 1 and len(seq) <= 3:
            return _framed(seq, codes[0], room)
        items = [(p, None) if isinstance(p, str) else ("", p) for p in seq]
        limit = self.limit

        def joined(i: Any, e: Any) -> str:
            cell = [0]
            texts = [text if code is None else _text(code(i, e, cell)) for text, code in items]
            if sum(map(len, texts)) > limit:
                raise Slow
            return "".join(texts)
        return joined

    # -- expressions ------------------------------------------------------------------
    def _node(self, node: Node) -> _Part:
        if isinstance(node, Lit):
            return _Const(node.value)
        if isinstance(node, ListLit):
            items = [_code(self._node(n)) for n in node.items]
            return lambda i, e, c: [f(i, e, c) for f in items]
        if isinstance(node, MapLit):
            pairs = [(k, _code(self._node(n))) for k, n in node.pairs]
            return lambda i, e, c: {k: f(i, e, c) for k, f in pairs}
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, PathNode):
            return self._path(node)
        raise _NotCompiled  # a secret reference

    def _path(self, node: PathNode) -> _Part:
        if node.root == "var":
            return self._var(node)
        if node.root == "count" and self.mode == "count" and node.steps == ("index",):
            return _index
        if node.root == "each" and self.mode == "for_each" and node.steps[:1] == ("key",):
            return self._walk(lambda _i, e, _c: e[0], node.steps[1:])
        if node.root == "each" and self.mode == "for_each" and node.steps[:1] == ("value",) \
                and self.each_plain:
            return self._walk(lambda _i, e, _c: e[1], node.steps[1:])
        raise _NotCompiled  # resources, stack outputs, host, node: the general way

    def _var(self, node: PathNode) -> _Part:
        steps = node.steps
        variables = self.scope.variables
        if not steps or not isinstance(steps[0], str) or steps[0] not in variables:
            raise _NotCompiled
        value = variables[steps[0]]
        if not self.plainness(value):
            raise _NotCompiled
        rest = steps[1:]
        while rest and isinstance(rest[0], str):  # known now: walked once
            try:
                value = _step(value, rest[0])
            except Slow:
                raise _NotCompiled from None
            rest = rest[1:]
        return self._walk(_Const(value), rest) if rest else _Const(value)

    def _walk(self, start: _Part, steps: tuple[Any, ...]) -> _Code:
        """``start`` followed by ``steps`` (names, or index expressions without calls)."""
        code = _code(start)
        for step in steps:
            if step is None:
                raise _NotCompiled  # [*] of a value: an error, worded the general way
            if not isinstance(step, str) and _has_call(step):
                raise _NotCompiled  # the general way evaluates (and charges) it twice
            code = _stepper(code, step if isinstance(step, str) else _code(self._node(step)))
        return code

    def _call(self, node: Call) -> _Code:
        if node.name not in _PURE:
            raise _NotCompiled  # files, templates and unknown names: the general way
        fast: _Fast | None = None
        if node.name == "format" and node.args and isinstance(node.args[0], Lit):
            fast = _format_fast(node.args[0].value, len(node.args) - 1, self.limit)
        elif node.name == "lookup" and len(node.args) in (2, 3):
            fast = _lookup_fast
        fn = FUNCTIONS[node.name]
        assert fn is not None
        base, root, budget = self.scope.base_dir, self.scope.root, self._budget

        def general(raw: tuple[Any, ...]) -> Any:
            try:
                return fn(Args(raw, base, root, budget))
            except (FunctionError, RecursionError):
                raise Slow from None

        return _charged(_args_of([self._node(a) for a in node.args]), fast, general,
                        self.total)


def _index(i: Any, _e: Any, _c: list[int]) -> Any:
    """``count.index``."""
    return i


def _single(part: _Part) -> Compiled:
    """A string that is one expression: its value keeps its type."""
    if isinstance(part, _Const):
        value = part.value
        return lambda _i, _e: value
    return lambda i, e: part(i, e, [0])


def _framed(seq: list[str | _Code], code: _Code, room: int) -> Compiled:
    """``text ${expr} text`` (either text may be missing): the common shape, made short."""
    at = next(n for n, p in enumerate(seq) if not isinstance(p, str))
    head = seq[0] if at == 1 else ""
    tail = seq[at + 1] if at + 1 < len(seq) else ""
    assert isinstance(head, str) and isinstance(tail, str)

    if code is _index and room >= _SHORT_DIGITS:  # "f${count.index}.txt"
        return lambda i, _e: head + str(i) + tail if i.__class__ is int and \
            -_SHORT_INT < i < _SHORT_INT else head + _text(i) + tail

    def framed(i: Any, e: Any) -> str:
        value = code(i, e, [0])
        text = value if value.__class__ is str else _text(value)
        if len(text) > room:
            raise Slow
        return head + text + tail
    return framed


_Args = Callable[[Any, Any, list[int]], tuple[Any, ...]]


def _args_of(parts: list[_Part]) -> _Args:
    """A call's arguments, evaluated in order (known ones taken as they are)."""
    if all(isinstance(p, _Const) for p in parts):
        known = tuple(p.value for p in parts if isinstance(p, _Const))
        return lambda _i, _e, _c: known
    codes = [_code(p) for p in parts]
    if len(codes) in (2, 3) and isinstance(parts[0], _Const):  # format("..", x), lookup(var.m, ..)
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


def _args_after(first: Any, codes: list[_Code]) -> _Args:
    """Arguments after a known first one; ``count.index`` taken as it is."""
    if len(codes) == 1:
        a = codes[0]
        if a is _index:
            return lambda i, _e, _c: (first, i)
        return lambda i, e, c: (first, a(i, e, c))
    a, b = codes
    return lambda i, e, c: (first, a(i, e, c), b(i, e, c))


def _charged(args_of: _Args, fast: _Fast | None, general: _Fast, total: int) -> _Code:
    """The call with its result charged to the string's budget, as ``evaluate._call``."""
    def charge(c: list[int], result: Any) -> Any:
        c[0] += (len(result) if result.__class__ is str else 0) + _CALL_COST
        if c[0] > total:
            raise Slow
        return result

    if fast is None:
        return lambda i, e, c: charge(c, general(args_of(i, e, c)))
    quick = fast

    def call(i: Any, e: Any, c: list[int]) -> Any:
        raw = args_of(i, e, c)
        try:
            result = quick(raw)
        except _General:
            result = general(raw)
        c[0] += (len(result) if result.__class__ is str else 0) + _CALL_COST
        if c[0] > total:
            raise Slow
        return result
    return call


class _General(Exception):
    """A fast path met a value it does not handle: call the function itself."""


def _has_call(node: Node) -> bool:
    if isinstance(node, Call):
        return True
    if isinstance(node, ListLit):
        return any(_has_call(n) for n in node.items)
    if isinstance(node, MapLit):
        return any(_has_call(n) for _, n in node.pairs)
    if isinstance(node, PathNode):
        return any(_has_call(s) for s in node.steps if s is not None and not isinstance(s, str))
    return False


def _stepper(code: _Code, step: str | _Code) -> _Code:
    if isinstance(step, str):
        return lambda i, e, c: _step(code(i, e, c), step)
    return lambda i, e, c: _step(code(i, e, c), step(i, e, c))


def _step(value: Any, key: Any) -> Any:
    """``value[key]`` as ``paths._step`` finds it; anything it would refuse is ``Slow``."""
    if isinstance(value, Mapping):
        if key.__class__ in _SCALARS and key in value:
            return value[key]
        raise Slow
    if isinstance(value, list | tuple):
        # isdecimal: what int() takes (the general way's isdigit lets "²" crash int())
        idx = int(key) if isinstance(key, str) and key.isdecimal() and len(key) < 19 else key
        if isinstance(idx, int) and not isinstance(idx, bool) and -len(value) <= idx < len(value):
            return value[idx]
    raise Slow


def _text(value: Any) -> str:
    """A value's text inside a string, as ``evaluate._to_text``; the rest is ``Slow``."""
    cls = value.__class__
    if isinstance(value, str):
        return value
    if cls is int and -_SHORT_INT < value < _SHORT_INT:
        return str(value)
    if cls is bool:
        return "true" if value else "false"
    if value is None:
        return ""
    if cls is float and math.isfinite(value):
        return str(value)
    raise Slow


def _lookup_fast(raw: tuple[Any, ...]) -> Any:
    """``lookup(map, key[, default])`` found in a plain map, as ``functions._lookup``."""
    table, key = raw[0], raw[1]
    if isinstance(table, Mapping) and key.__class__ in _SCALARS and key is not None:
        if key in table:
            return table[key]
        if len(raw) == 3:
            return raw[2]
    raise _General


def _format_fast(fmt: Any, count: int, limit: int) -> _Fast | None:
    """``format`` of a literal format of bare ``%d``/``%s``/``%%`` directives, as
    ``format_spec`` prints and sizes them (%d from the bit length, before printing)."""
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
    if len(digits) != count:
        return None
    tail = fmt[pos:].replace("%%", "%")
    room = limit - sum(map(len, texts)) - len(tail)
    if count == 1:
        return _format_one(texts[0], digits[0], tail, room)
    plan = list(zip(range(1, count + 1), texts, digits, strict=True))

    def format_(raw: tuple[Any, ...]) -> str:
        out: list[str] = []
        size = 0
        for n, text, number in plan:
            value = raw[n]
            if value.__class__ is int and -_SHORT_INT < value < _SHORT_INT:
                shown = str(value)
                size += value.bit_length() * 30103 // 100000 + 3 if number else len(shown)
            elif not number and isinstance(value, str):
                shown = value
                size += len(shown)
            else:
                raise _General
            out.append(text)
            out.append(shown)
        if size > room:
            raise _General
        out.append(tail)
        return "".join(out)
    return format_


def _format_one(head: str, number: bool, tail: str, room: int) -> _Fast:
    """``format`` with one directive: a short int needs no sizing when it always fits."""
    short_fits = room >= _SHORT_DIGITS

    def format_one(raw: tuple[Any, ...]) -> str:
        value = raw[1]
        if value.__class__ is int and -_SHORT_INT < value < _SHORT_INT:
            if short_fits:
                return head + str(value) + tail
            shown = str(value)
            size = value.bit_length() * 30103 // 100000 + 3 if number else len(shown)
        elif not number and isinstance(value, str):
            shown = value
            size = len(shown)
        else:
            raise _General
        if size > room:
            raise _General
        return head + shown + tail
    return format_one
