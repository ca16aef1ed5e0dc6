"""The ``${...}`` expression language: splitting strings, tokens, syntax tree.

A YAML string is either a literal, a single ``${expr}`` (which keeps the
expression's type: ``count: ${var.n}`` is an integer) or a template mixing
text and expressions (always a string). ``$${`` writes a literal ``${``.
Expressions are references (``var.x``, ``web.id``, ``web[0].id``,
``web[*].id``, ``each.value.port``), literals (strings, numbers, true,
false, null, lists, maps), calls of the few built-in functions, and external
secret references (``secret.env:NAME``, ``secret.file:/PATH``,
``secret.cmd:COMMAND``), which take the whole ``${...}``. There
is no arithmetic and no conditionals on purpose: logic belongs in code.
Pure: no I/O. Parsed strings are memoised because big stacks repeat them.

Strings come from untrusted Git, so parsing is linear in the text, nesting
is bounded (``MAX_DEPTH``: no RecursionError from ``[[[[...``), numbers are
bounded, and only short strings are memoised (a cache of 4 MiB templates
would hold gigabytes).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from driftless.records import record

__all__ = [
    "Call",
    "has_call",
    "MAX_DEPTH",
    "ExprSyntaxError",
    "ListLit",
    "Lit",
    "MapLit",
    "Node",
    "Path",
    "SecretRef",
    "Template",
    "parse_template",
]


class ExprSyntaxError(ValueError):
    """A malformed expression; ``offset`` is the character position in the string."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@record(slots=True)
class Lit:
    """A literal: a number, a quoted string, ``true``, ``false`` or ``null``."""

    value: Any


@record(slots=True)
class ListLit:
    """``[a, b, ...]``: a list of expressions."""

    items: tuple[Node, ...]


@record(slots=True)
class MapLit:
    """``{key: value, ...}`` (or ``key = value``): a map of expressions, in the order written."""

    pairs: tuple[tuple[str, Node], ...]


@record(slots=True)
class Path:
    """``root.step[...]``; a step is a name (str), an index (Node) or ``SPLAT``."""

    root: str
    steps: tuple[str | Node | None, ...]  # None is the splat ``[*]``
    offset: int
    text: str


@record(slots=True)
class Call:
    """``name(args...)``: a call of one of the built-in functions."""

    name: str
    args: tuple[Node, ...]
    offset: int


@record(slots=True)
class SecretRef:
    """``secret.KIND:ARGUMENT``: a value render reads from outside Git, if the operator allows.

    The argument is free text up to the closing ``}`` (a path, a variable
    name, a command line with spaces and quotes), so it cannot be a token of
    the expression grammar; the reference is therefore the whole ``${...}``.
    """

    kind: str
    arg: str
    offset: int


Node = Lit | ListLit | MapLit | Path | Call | SecretRef


@record(slots=True)
class Template:
    """A parsed YAML string: literal text parts and expressions, in order."""

    parts: tuple[str | Node, ...]
    offsets: tuple[int, ...]
    calls: bool = False  # any function call inside: only then is a size budget needed
    # the whole text when it holds no expression (set once: asked for every string)
    text: str | None = None

    @property
    def single(self) -> Node | None:
        """The expression when the whole string is one ``${...}`` (keeps its type)."""
        if len(self.parts) == 1 and not isinstance(self.parts[0], str):
            return self.parts[0]
        return None

    @property
    def literal(self) -> str | None:
        """The text when the string holds no expression at all."""
        return self.text


_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>-?\d+(?:\.\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<id>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op>[.\[\](),{}:=*])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
_BLANK = re.compile(r"\s*\Z")
MAX_DEPTH = 32  # brackets, braces and calls inside one ${...}
_MAX_DIGITS = 400  # a number literal: far beyond any real count or port
_CACHED_TEXT = 4096  # longer strings are parsed each time rather than memoised
_SHOWN_TOKEN = 40


def _shown(token: str) -> str:
    """A token for a message, cut short: a string literal may be megabytes long."""
    return token if len(token) <= _SHOWN_TOKEN else token[:_SHOWN_TOKEN] + "..."


def _tokens(text: str, base: int) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if _BLANK.match(text, pos):  # not text[pos:].strip(): that is quadratic
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExprSyntaxError(f"unexpected character '{text[bad]}'", base + bad)
        kind = m.lastgroup or "op"
        out.append((kind, m.group(kind), base + m.start(kind)))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over the token list of one ``${...}``."""

    def __init__(self, text: str, base: int) -> None:
        self.toks = _tokens(text, base)
        self.i = 0
        self.end = base + len(text)
        self.depth = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        return value is None or self.toks[self.i][1] == value

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        if self.i >= len(self.toks):
            raise ExprSyntaxError(f"expected {value or 'more'} at end of expression", self.end)
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            raise ExprSyntaxError(f"expected '{value}' but found '{_shown(tok[1])}'", tok[2])
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise ExprSyntaxError("empty expression '${}'", self.end)
        node = self.expr()
        if self.peek():
            tok = self.toks[self.i]
            raise ExprSyntaxError(f"unexpected '{_shown(tok[1])}' after the expression",
                                  tok[2])
        return node

    def expr(self) -> Node:
        """One expression, refusing nesting deeper than ``MAX_DEPTH`` (no RecursionError)."""
        if self.depth >= MAX_DEPTH:
            off = self.toks[self.i][2] if self.i < len(self.toks) else self.end
            raise ExprSyntaxError(f"the expression nests more than {MAX_DEPTH} levels deep "
                                  "(brackets, braces and calls)", off)
        self.depth += 1
        try:
            return self.operand()
        finally:
            self.depth -= 1

    def operand(self) -> Node:
        kind, value, off = self.take()
        if kind == "num":
            return Lit(_number(value, off))
        if kind == "str":
            return Lit(re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), value[1:-1]))
        if kind == "id":
            return self.after_name(value, off)
        if value == "[":
            return ListLit(tuple(self.items("]")))
        if value == "{":
            return self.map_lit()
        raise ExprSyntaxError(f"unexpected '{_shown(value)}'", off)

    def items(self, close: str) -> list[Node]:
        out: list[Node] = []
        while not self.peek(close):
            out.append(self.expr())
            if not self.peek(close):
                self.take(",")
        self.take(close)
        return out

    def map_lit(self) -> MapLit:
        pairs: list[tuple[str, Node]] = []
        while not self.peek("}"):
            kind, key, off = self.take()
            if kind not in ("id", "str"):
                raise ExprSyntaxError(f"expected a map key but found '{_shown(key)}'", off)
            key = key[1:-1] if kind == "str" else key
            if not (self.peek(":") or self.peek("=")):
                self.take(":")
            self.i += 1
            pairs.append((key, self.expr()))
            if not self.peek("}"):
                self.take(",")
        self.take("}")
        return MapLit(tuple(pairs))

    def after_name(self, name: str, off: int) -> Node:
        if name in ("true", "false", "null"):
            return Lit({"true": True, "false": False, "null": None}[name])
        if self.peek("("):
            self.i += 1
            return Call(name, tuple(self.items(")")), off)
        steps: list[str | Node | None] = []
        while self.peek(".") or self.peek("["):
            if self.take()[1] == ".":
                steps.append(self.take_name())
            elif self.peek("*"):
                self.i += 1
                self.take("]")
                steps.append(None)
            else:
                steps.append(self.expr())
                self.take("]")
        return Path(name, tuple(steps), off, _path_text(name, steps))

    def take_name(self) -> str:
        kind, value, off = self.take()
        if kind not in ("id", "num"):
            raise ExprSyntaxError(f"expected a name after '.' but found '{_shown(value)}'",
                                  off)
        return value


def _number(text: str, off: int) -> int | float:
    """A number literal; refuses huge ones (int() of 5000 digits raises, floats overflow)."""
    if len(text) > _MAX_DIGITS:
        raise ExprSyntaxError(f"a number may have at most {_MAX_DIGITS} digits", off)
    if "." not in text:
        return int(text)
    value = float(text)
    if math.isinf(value):
        raise ExprSyntaxError("the number is too large", off)
    return value


def _path_text(root: str, steps: list[str | Node | None]) -> str:
    out = root
    for s in steps:
        if s is None:
            out += "[*]"
        elif isinstance(s, str):
            out += "." + s
        elif isinstance(s, Lit) and isinstance(s.value, str):
            out += f"[{_shown(json.dumps(s.value))}]"
        elif isinstance(s, Lit):
            out += f"[{json.dumps(s.value)}]"
        else:
            out += "[...]"
    return out


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``."""
    end = text.find("}", start)
    if end >= 0 and '"' not in text[start:end] and "{" not in text[start:end]:
        return end  # no string or brace before the first '}': the scan would stop there
    return _scan_closing(text, start)


def _scan_closing(text: str, start: int) -> int:
    """``_closing`` a character at a time: strings and nested braces skipped."""
    depth, i, quoted = 0, start, False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise ExprSyntaxError("unclosed '${' (add '}' or write '$${' for a literal)", start - 2)


_SECRET = re.compile(r"\s*secret\.([A-Za-z_][A-Za-z0-9_-]*):", re.ASCII)
_SECRET_FORMS = "secret.env:NAME, secret.file:/PATH or secret.cmd:COMMAND"


def _secret_ref(body: str, base: int) -> SecretRef | None:
    """``secret.KIND:REST`` when the body is one: REST is everything up to the ``}``.

    The kind is not checked here, so an unknown one is reported when
    evaluating, with a did-you-mean; only an empty argument is a syntax error.
    """
    m = _SECRET.match(body)
    if m is None:
        return None
    arg = body[m.end():].strip()
    if not arg:
        raise ExprSyntaxError(f"'secret.{m[1]}:' needs something after ':' ({_SECRET_FORMS})",
                              base + m.end())
    return SecretRef(m[1], arg, base + m.start(1) - len("secret."))


def _parse_body(body: str, base: int) -> Node:
    """One expression (short ones memoised: big stacks repeat the same few)."""
    ref = _secret_ref(body, base)
    if ref is not None:
        return ref
    if len(body) <= _CACHED_TEXT:
        return _parse_cached(body, base)
    return _Parser(body, base).parse()


@lru_cache(maxsize=65536)
def _parse_cached(body: str, base: int) -> Node:
    return _Parser(body, base).parse()


def parse_template(text: str) -> Template:
    """Split a YAML string into text and parsed expressions (short ones memoised)."""
    if len(text) <= _CACHED_TEXT:
        return _template_cached(text)
    return _template(text)


@lru_cache(maxsize=65536)
def _template_cached(text: str) -> Template:
    return _template(text)


def _template(text: str) -> Template:
    """Split ``text`` at each ``${...}``; linear in its length."""
    if "${" not in text:
        return Template((text,), (0,), text=text)
    parts: list[str | Node] = []
    offsets: list[int] = []
    buf, pos = [], 0
    while True:
        at = text.find("${", pos)
        if at < 0:
            buf.append(text[pos:])
            break
        if at > 0 and text[at - 1] == "$":
            buf.append(text[pos : at - 1] + "${")
            pos = at + 2
            continue
        buf.append(text[pos:at])
        close = _closing(text, at + 2)
        if "".join(buf):
            parts.append("".join(buf))
            offsets.append(pos)
        buf = []
        parts.append(_parse_body(text[at + 2 : close], at + 2))
        offsets.append(at + 2)
        pos = close + 1
    if "".join(buf):
        parts.append("".join(buf))
        offsets.append(pos)
    calls = any(has_call(p) for p in parts if not isinstance(p, str))
    only_text = "".join(p for p in parts if isinstance(p, str)) if all(
        isinstance(p, str) for p in parts) else None
    return Template(tuple(parts), tuple(offsets), calls, only_text)


def has_call(node: Node) -> bool:
    """True when ``node`` calls a function anywhere (steps and literals included)."""
    if isinstance(node, Call):
        return True
    if isinstance(node, ListLit):
        return any(has_call(n) for n in node.items)
    if isinstance(node, MapLit):
        return any(has_call(n) for _, n in node.pairs)
    if isinstance(node, Path):
        return any(has_call(s) for s in node.steps if s is not None and not isinstance(s, str))
    return False
