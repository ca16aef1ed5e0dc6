"""Reading the user's YAML quickly while keeping file:line:col for messages.

PyYAML's C parser (``CSafeLoader``) does the scanning; a constructor hook
records where every mapping value and list item starts, so a problem found
much later (a bad reference, a schema error) still points at its line.
Parsed files are cached by content digest for the life of one ``YamlCache``,
so a no-op re-render parses nothing. I/O: reads files.
"""

from __future__ import annotations

import gc
import hashlib
import math
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml

from driftless.errors import Problem, RenderError
from driftless.model.policy import Limits

__all__ = [
    "SHARED",
    "Loc",
    "LocDict",
    "LocList",
    "Quoted",
    "YamlCache",
    "display_path",
    "load_yaml_text",
]

Loc = tuple[str, int, int]


class LocDict(dict[str, Any]):
    """A mapping that knows where it and each of its values were written."""

    __slots__ = ("loc", "locs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc: Loc | None = None
        self.locs: dict[str, Loc] = {}


class Quoted(str):
    """A quoted YAML string holding ``${``: its value stays a string even when it
    is a single expression (``"${var.port}"`` is ``"8080"``, ``${var.port}`` is 8080)."""

    __slots__ = ()


class LocList(list[Any]):
    """A list that knows where it and each item were written."""

    __slots__ = ("loc", "locs")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.loc: Loc | None = None
        self.locs: list[Loc] = []


_STR = "tag:yaml.org,2002:str"
_C = yaml.constructor.SafeConstructor
_SCALARS: dict[str, Any] = {
    "tag:yaml.org,2002:int": _C.construct_yaml_int,
    "tag:yaml.org,2002:float": _C.construct_yaml_float,
    "tag:yaml.org,2002:bool": _C.construct_yaml_bool,
    "tag:yaml.org,2002:null": _C.construct_yaml_null,
}
# YAML 1.2 core schema for plain scalars: yes/no/on/off stay strings (the
# "Norway problem" of YAML 1.1), and resolving here instead of in PyYAML's
# Python resolver saves a fifth of the load time of a big stack.
_INT = re.compile(r"^[-+]?[0-9][0-9_]*$|^0x[0-9a-fA-F_]+$|^0o[0-7_]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$")
_WORDS: dict[str, Any] = {
    "true": True, "True": True, "TRUE": True, "false": False, "False": False,
    "FALSE": False, "null": None, "Null": None, "NULL": None, "~": None, "": None,
    ".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan,
}


def plain_scalar(text: str) -> Any:
    """The value of an unquoted scalar under the YAML 1.2 core schema."""
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first.isdigit() or first in "-+.":
        if _INT.match(text):
            return int(text.replace("_", ""), 0) if text[:2] in ("0x", "0o") else int(
                text.replace("_", ""))
        if _FLOAT.match(text) and any(c.isdigit() for c in text):
            return float(text.replace("_", ""))
    return text


class _Builder:
    """Turns composed nodes into values; faster than PyYAML's constructor.

    Composing in C and walking the node tree here takes about half the time
    of ``yaml.load`` with the C loader, and gives us every node's mark.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[Problem] = []
        self._scalar = _C.__new__(_C)  # only its stateless scalar methods are used

    def mark(self, node: yaml.Node) -> Loc:
        m = node.start_mark
        return (self.name, m.line + 1, m.column + 1)

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if node.tag != _STR:  # an explicit tag such as !!int
                fn = _SCALARS.get(node.tag)
                return fn(self._scalar, node) if fn is not None else node.value
            if node.style:
                return Quoted(node.value) if "${" in node.value else node.value
            return plain_scalar(node.value)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node)
        assert isinstance(node, yaml.SequenceNode)
        return self._sequence(node)

    def _mapping(self, node: yaml.MappingNode) -> LocDict:
        out = LocDict()
        out.loc = self.mark(node)
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(
                self.build(key_node))
            if key in out:
                first = out.locs[key]
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                self.problems.append(Problem(
                    f"duplicate key '{key}' (first written at line {first[1]})",
                    self.name, line, col, hint="YAML would silently keep only the last one"))
            out[key] = self.build(value_node)
            out.locs[key] = self.mark(value_node)
        return out

    def _sequence(self, node: yaml.SequenceNode) -> LocList:
        out = LocList(self.build(child) for child in node.value)
        out.loc = self.mark(node)
        out.locs = [self.mark(child) for child in node.value]
        return out


def load_yaml_text(text: str, name: str, *, limits: Limits | None = None) -> Any:
    """Parse one YAML document; a syntax error or a broken limit is a ``RenderError``."""
    loader = yaml.CBaseLoader(text)  # C parser; every scalar arrives untyped
    paused = gc.isenabled()
    gc.disable()  # a large tree of new objects makes the cyclic GC rescan it quadratically
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        builder = _Builder(name)
        doc = builder.build(node)
        if builder.problems:
            raise RenderError(builder.problems)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        raise RenderError([Problem(f"YAML syntax error: {what}", name, line, col)]) from None
    except yaml.YAMLError as exc:
        raise RenderError([Problem(f"YAML error: {exc}", name)]) from None
    finally:
        loader.dispose()
        if paused:
            gc.enable()


def display_path(path: Path, root: Path) -> str:
    """The path as users should read it in messages: relative to the project."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


class YamlCache:
    """Parsed YAML documents keyed by content digest, least recently used dropped.

    One instance is shared by every project loaded in a process (``SHARED``),
    so the agent re-rendering an unchanged revision parses nothing: only the
    read and sha256 of each file remain. Parsed documents are shared, so the
    renderer never mutates them (overlays copy what they patch).
    """

    def __init__(self, *, max_files: int = 4096) -> None:
        self._parsed: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._max = max_files
        self._lock = threading.Lock()

    def load(self, path: Path, *, name: str, limits: Limits | None = None) -> Any:
        """The parsed file; a missing or unreadable file is a ``RenderError``."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise RenderError([Problem(f"cannot read file: {reason}", name)]) from None
        key = (name, hashlib.sha256(data).hexdigest())
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]
        doc = load_yaml_text(data.decode("utf-8", "replace"), name, limits=limits)
        with self._lock:
            self._parsed[key] = doc
            while len(self._parsed) > self._max:
                self._parsed.popitem(last=False)
        return doc


SHARED = YamlCache()


def where(container: Any, key: str | int | None = None) -> Loc | None:
    """The location of ``container[key]`` (or the container) when recorded."""
    if isinstance(container, LocDict):
        if key is None:
            return container.loc
        return container.locs.get(str(key), container.loc)
    if isinstance(container, LocList):
        if isinstance(key, int) and 0 <= key < len(container.locs):
            return container.locs[key]
        return container.loc
    return None


def problem_at(message: str, loc: Loc | None, *, hint: str | None = None) -> Problem:
    """A ``Problem`` at a recorded location."""
    if loc is None:
        return Problem(message, hint=hint)
    return Problem(message, loc[0], loc[1], loc[2], hint=hint)
