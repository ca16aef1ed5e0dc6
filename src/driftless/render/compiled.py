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
functions) are checked here and refused by falling back. Calls (their
arguments, budget and fast paths) are in ``compiled_calls``. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from driftless.model import Deferred, Sensitive, Unknown
from driftless.render.calls import TOTAL_FACTOR, Args, Budget, FunctionError
from driftless.render.compiled_calls import (
    SCALARS,
    SHORT_DIGITS,
    SHORT_INT,
    Code,
    Compiled,
    Const,
    Fast,
    Part,
    Slow,
    args_of,
    charged,
    code_of,
    count_index,
    format_fast,
    format_index,
    lookup_fast,
    lookup_known,
)
from driftless.render.expr import (
    Call,
    ExprSyntaxError,
    ListLit,
    Lit,
    MapLit,
    Node,
    has_call,
    parse_template,
)
from driftless.render.expr import (
    Path as PathNode,
)
from driftless.render.functions import FUNCTIONS
from driftless.render.scope import Scope

__all__ = ["Compiled", "Compiler", "Plainness", "Slow"]

_PURE = frozenset({"base64encode", "format", "join", "jsonencode", "lookup", "sha256"})


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
        if value.__class__ in SCALARS:
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
        if v.__class__ in SCALARS:
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
            return self._joined([Const(p) if isinstance(p, str) else self._node(p)
                                 for p in tpl.parts])
        except (_NotCompiled, ExprSyntaxError, RecursionError):
            return None

    # -- the whole string -------------------------------------------------------------
    def _joined(self, parts: list[Part]) -> Compiled:
        """Text and expressions joined; known texts merged now, the size checked per instance."""
        seq: list[str | Code] = []
        for part in parts:
            if not isinstance(part, Const):
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
    def _node(self, node: Node) -> Part:
        if isinstance(node, Lit):
            return Const(node.value)
        if isinstance(node, ListLit):
            items = [code_of(self._node(n)) for n in node.items]
            return lambda i, e, c: [f(i, e, c) for f in items]
        if isinstance(node, MapLit):
            pairs = [(k, code_of(self._node(n))) for k, n in node.pairs]
            return lambda i, e, c: {k: f(i, e, c) for k, f in pairs}
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, PathNode):
            return self._path(node)
        raise _NotCompiled  # a secret reference

    def _path(self, node: PathNode) -> Part:
        if node.root == "var":
            return self._var(node)
        if node.root == "count" and self.mode == "count" and node.steps == ("index",):
            return count_index
        if node.root == "each" and self.mode == "for_each" and node.steps[:1] == ("key",):
            return self._walk(lambda _i, e, _c: e[0], node.steps[1:])
        if node.root == "each" and self.mode == "for_each" and node.steps[:1] == ("value",) \
                and self.each_plain:
            return self._walk(lambda _i, e, _c: e[1], node.steps[1:])
        raise _NotCompiled  # resources, stack outputs, host, node: the general way

    def _var(self, node: PathNode) -> Part:
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
        return self._walk(Const(value), rest) if rest else Const(value)

    def _walk(self, start: Part, steps: tuple[Any, ...]) -> Code:
        """``start`` followed by ``steps`` (names, or index expressions without calls)."""
        code = code_of(start)
        for step in steps:
            if step is None:
                raise _NotCompiled  # [*] of a value: an error, worded the general way
            if not isinstance(step, str) and has_call(step):
                raise _NotCompiled  # the general way evaluates (and charges) it twice
            code = _stepper(code, step if isinstance(step, str) else code_of(self._node(step)))
        return code

    def _call(self, node: Call) -> Code:
        if node.name not in _PURE:
            raise _NotCompiled  # files, templates and unknown names: the general way
        fast: Fast | None = None
        if node.name == "format" and node.args and isinstance(node.args[0], Lit):
            fast = format_fast(node.args[0].value, len(node.args) - 1, self.limit)
        elif node.name == "lookup" and len(node.args) in (2, 3):
            fast = lookup_fast
        fn = FUNCTIONS[node.name]
        assert fn is not None
        base, root, budget = self.scope.base_dir, self.scope.root, self._budget

        def general(raw: tuple[Any, ...]) -> Any:
            try:
                return fn(Args(raw, base, root, budget))
            except (FunctionError, RecursionError):
                raise Slow from None

        parts = [self._node(a) for a in node.args]
        code = charged(args_of(parts), fast, general, self.total)
        if fast is not None and node.name == "format" and len(parts) == 2 \
                and isinstance(parts[0], Const) and parts[1] is count_index:
            # format("%d", count.index) (a literal format): in one step
            return format_index(parts[0].value, self.limit, self.total, code) or code
        if fast is lookup_fast and isinstance(parts[0], Const):  # lookup(var.map, k, d)
            return lookup_known(parts[0].value, parts, general, self.total) or code
        return code


def _single(part: Part) -> Compiled:
    """A string that is one expression: its value keeps its type."""
    if isinstance(part, Const):
        value = part.value
        return lambda _i, _e: value
    return lambda i, e: part(i, e, [0])


def _framed(seq: list[str | Code], code: Code, room: int) -> Compiled:
    """``text ${expr} text`` (either text may be missing): the common shape, made short."""
    at = next(n for n, p in enumerate(seq) if not isinstance(p, str))
    head = seq[0] if at == 1 else ""
    tail = seq[at + 1] if at + 1 < len(seq) else ""
    assert isinstance(head, str) and isinstance(tail, str)

    if code is count_index and room >= SHORT_DIGITS:  # "f${count.index}.txt"
        return lambda i, _e: head + str(i) + tail if i.__class__ is int and \
            -SHORT_INT < i < SHORT_INT else head + _text(i) + tail

    def framed(i: Any, e: Any) -> str:
        value = code(i, e, [0])
        text = value if value.__class__ is str else _text(value)
        if len(text) > room:
            raise Slow
        return head + text + tail
    return framed


def _stepper(code: Code, step: str | Code) -> Code:
    if isinstance(step, str):
        return lambda i, e, c: _step(code(i, e, c), step)
    return lambda i, e, c: _step(code(i, e, c), step(i, e, c))


def _step(value: Any, key: Any) -> Any:
    """``value[key]`` as ``paths._step`` finds it; anything it would refuse is ``Slow``."""
    if isinstance(value, Mapping):
        if key.__class__ in SCALARS and key in value:
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
    if cls is int and -SHORT_INT < value < SHORT_INT:
        return str(value)
    if cls is bool:
        return "true" if value else "false"
    if value is None:
        return ""
    if cls is float and math.isfinite(value):
        return str(value)
    raise Slow


