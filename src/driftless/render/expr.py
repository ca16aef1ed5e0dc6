"""The ``${...}`` expression language: splitting strings, tokens, syntax tree.

A YAML string is either a literal, a single ``${expr}`` (which keeps the
expression's type: ``count: ${var.n}`` is an integer) or a template mixing
text and expressions (always a string). ``$${`` writes a literal ``${``.
Expressions are references (``var.x``, ``web.id``, ``web[0].id``,
``web[*].id``, ``each.value.port``), literals (strings, numbers, true,
false, null, lists, maps) and calls of the few built-in functions. There
is no arithmetic and no conditionals on purpose: logic belongs in code.
Pure: no I/O. Parsed strings are memoised because big stacks repeat them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "Call",
    "ExprSyntaxError",
    "ListLit",
    "Lit",
    "MapLit",
    "Node",
    "Path",
    "Template",
    "parse_template",
]


class ExprSyntaxError(ValueError):
    """A malformed expression; ``offset`` is the character position in the string."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Lit:
    value: Any


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit:
    pairs: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class Path:
    """``root.step[...]``; a step is a name (str), an index (Node) or ``SPLAT``."""

    root: str
    steps: tuple[str | Node | None, ...]  # None is the splat ``[*]``
    offset: int
    text: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]
    offset: int


Node = Lit | ListLit | MapLit | Path | Call


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed YAML string: literal text parts and expressions, in order."""

    parts: tuple[str | Node, ...]
    offsets: tuple[int, ...]

    @property
    def single(self) -> Node | None:
        """The expression when the whole string is one ``${...}`` (keeps its type)."""
        if len(self.parts) == 1 and not isinstance(self.parts[0], str):
            return self.parts[0]
        return None

    @property
    def literal(self) -> str | None:
        """The text when the string holds no expression at all."""
        if all(isinstance(p, str) for p in self.parts):
            return "".join(p for p in self.parts if isinstance(p, str))
        return None


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


def _tokens(text: str, base: int) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = len(text) - len(text[pos:].lstrip())
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

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        return value is None or self.toks[self.i][1] == value

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        if self.i >= len(self.toks):
            raise ExprSyntaxError(f"expected {value or 'more'} at end of expression", self.end)
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            raise ExprSyntaxError(f"expected '{value}' but found '{tok[1]}'", tok[2])
        self.i += 1
        return tok

    def parse(self) -> Node:
        if not self.toks:
            raise ExprSyntaxError("empty expression '${}'", self.end)
        node = self.expr()
        if self.peek():
            tok = self.toks[self.i]
            raise ExprSyntaxError(f"unexpected '{tok[1]}' after the expression", tok[2])
        return node

    def expr(self) -> Node:
        kind, value, off = self.take()
        if kind == "num":
            return Lit(float(value) if "." in value else int(value))
        if kind == "str":
            return Lit(re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), value[1:-1]))
        if kind == "id":
            return self.after_name(value, off)
        if value == "[":
            return ListLit(tuple(self.items("]")))
        if value == "{":
            return self.map_lit()
        raise ExprSyntaxError(f"unexpected '{value}'", off)

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
                raise ExprSyntaxError(f"expected a map key but found '{key}'", off)
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
            raise ExprSyntaxError(f"expected a name after '.' but found '{value}'", off)
        return value


def _path_text(root: str, steps: list[str | Node | None]) -> str:
    out = root
    for s in steps:
        if s is None:
            out += "[*]"
        elif isinstance(s, str):
            out += "." + s
        elif isinstance(s, Lit):
            out += f"[{s.value!r}]".replace("'", '"')
        else:
            out += "[...]"
    return out


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``."""
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


@lru_cache(maxsize=65536)
def _parse_body(body: str, base: int) -> Node:
    """One expression (memoised: big stacks repeat the same few)."""
    return _Parser(body, base).parse()


@lru_cache(maxsize=65536)
def parse_template(text: str) -> Template:
    """Split a YAML string into text and parsed expressions (memoised)."""
    if "${" not in text:
        return Template((text,), (0,))
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
    return Template(tuple(parts), tuple(offsets))
