"""Reading the user's YAML quickly while keeping file:line:col for messages.

PyYAML's C parser (``CBaseLoader``) composes the node tree; ``_Builder``
turns it into values and records where every key, value and list item
starts, so a problem found much later (a bad reference, a schema error)
still points at its line. Parsed files are cached by content digest for the
life of one ``YamlCache``, so a no-op re-render parses nothing.

Files come from untrusted repositories, so loading one must never hang,
exhaust memory or end in a traceback: size, nesting depth and alias
expansion are capped by the operator's ``Limits``, and every failure is a
``RenderError`` at a file:line:col. I/O: reads files.
"""

from __future__ import annotations

import gc
import hashlib
import math
import re
import stat
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import ReaderError

from driftless.errors import Problem, RenderError
from driftless.model.policy import Limits, limit_hint

__all__ = [
    "SHARED",
    "Loc",
    "LocDict",
    "LocList",
    "Quoted",
    "YamlCache",
    "display_path",
    "key_where",
    "load_yaml_text",
    "problem_at",
    "where",
]

Loc = tuple[str, int, int]


class LocDict(dict[str, Any]):
    """A mapping that knows where it, each of its keys and each value were written."""

    __slots__ = ("key_locs", "loc", "locs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loc: Loc | None = None
        self.locs: dict[str, Loc] = {}
        self.key_locs: dict[str, Loc] = {}


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
_SCALAR_NODE, _MAPPING_NODE = yaml.ScalarNode, yaml.MappingNode
_LONG = 256  # scalars longer than this are converted once however often aliased
_NUMERIC = frozenset("0123456789-+.")  # how a plain scalar that may be a number starts
_new_dict, _new_list = dict.__new__, list.__new__  # no __init__: the builder sets every slot
_C = yaml.constructor.SafeConstructor
_SCALARS: dict[str, Any] = {
    "tag:yaml.org,2002:int": _C.construct_yaml_int,
    "tag:yaml.org,2002:float": _C.construct_yaml_float,
    "tag:yaml.org,2002:bool": _C.construct_yaml_bool,
    "tag:yaml.org,2002:null": _C.construct_yaml_null,
}
# What PyYAML's scalar constructors raise on text such as "!!int foo" or "!!bool
# ''", and int() on more digits than sys.get_int_max_str_digits() allows.
_SCALAR_ERRORS = (ValueError, KeyError, IndexError, TypeError, OverflowError)
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
# libyaml's line breaks, and the characters its reader refuses (it says only
# "control characters are not allowed", without a usable position).
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Parser contexts whose error means "this bracket or quote was never closed",
# when the problem is running into something other than its closer.
_OPENERS = {"while parsing a flow sequence": "[", "while parsing a flow mapping": "{",
            "while scanning a quoted scalar": '"'}
# What may stand before a token (generously: a miss would let a bomb through).
_TOKEN_START = frozenset(" \t\r\n\x85\u2028\u2029\ufeff[]{},:?-")
_AFTER_TOKEN_START = re.compile(r"[\s\[\]{},:?\-\ufeff]\*")  # \s has every break above
_CLOSERS = {"[": "]", "{": "}", '"': '"', "'": "'"}
_RAN_ON = ("did not find expected ','", "found unexpected end of stream",
           "found unexpected document indicator")


def plain_scalar(text: str) -> Any:
    """The value of an unquoted scalar under the YAML 1.2 core schema."""
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first.isdigit() or first in "-+.":
        if _INT.match(text):
            if text[:2] not in ("0x", "0o"):
                return int(text.replace("_", ""))  # ValueError past 4300 digits
            try:
                return int(text.replace("_", ""), 0)
            except ValueError:  # "0x_" has no digits: it is text
                return text
        if _FLOAT.match(text) and any(c.isdigit() for c in text):
            return float(text.replace("_", ""))
    return text


def _short(text: str) -> str:
    """``text`` cut to a length a message can quote."""
    return text if len(text) <= 40 else text[:37] + "..."


def _at(name: str, mark: Any, message: str, *, hint: str | None = None) -> Problem:
    """A ``Problem`` at a PyYAML mark (0-based line and column)."""
    return Problem(message, name, mark.line + 1, mark.column + 1, hint=hint)


def _too_deep(name: str, mark: Any, limit: int) -> Problem:
    """The problem for maps and lists nested deeper than ``yaml_depth``."""
    return _at(name, mark, f"maps and lists nested deeper than the limit yaml_depth ({limit})",
               hint=limit_hint("yaml_depth"))


class _TooDeep(Exception):
    """Raised out of the recursive build at the first node past ``yaml_depth``."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _Builder:
    """Turns composed nodes into values; faster than PyYAML's constructor.

    Composing in C and walking the node tree here takes about half the time
    of ``yaml.load`` with the C loader, and gives us every node's mark.
    Depth is passed down per map and list, so recursion stops at ``max_depth``.
    """

    def __init__(self, name: str, *, max_depth: int) -> None:
        self.name = name
        self.max_depth = max_depth
        self.problems: list[Problem] = []
        self._constructor = _C.__new__(_C)  # only its stateless scalar methods are used
        self._long: dict[int, Any] = {}

    def build(self, node: yaml.Node, depth: int = 0) -> Any:
        """The value of ``node``, found inside ``depth`` maps and lists."""
        if isinstance(node, _SCALAR_NODE):
            if len(node.value) > _LONG:
                return self._long_scalar(node)
            return self._scalar(node)
        if depth >= self.max_depth:
            raise _TooDeep(_too_deep(self.name, node.start_mark, self.max_depth))
        if isinstance(node, _MAPPING_NODE):
            return self._mapping(node, depth + 1)
        return self._sequence(node, depth + 1)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        """A scalar's value; a bad one is recorded and kept as text. Plain words
        skip ``plain_scalar``: most scalars are."""
        try:
            if node.tag != _STR:  # an explicit tag such as !!int
                fn = _SCALARS.get(node.tag)
                return fn(self._constructor, node) if fn is not None else node.value
            value = node.value
            if node.style:
                return Quoted(value) if "${" in value else value
            if value[:1] in _NUMERIC or value in _WORDS:
                return plain_scalar(value)
            return value
        except _SCALAR_ERRORS:
            self.problems.append(self._bad_scalar(node))
            return node.value

    def _long_scalar(self, node: yaml.ScalarNode) -> Any:
        """A long scalar's value, made once: each alias of a megabyte string would
        otherwise scan it again, or copy it (``Quoted``), or report it again."""
        key = id(node)  # nodes live as long as the builder, so ids stay theirs
        if key not in self._long:
            self._long[key] = self._scalar(node)
        return self._long[key]

    def _bad_scalar(self, node: yaml.Node) -> Problem:
        """Why a scalar has no value: a tag it does not fit, or too many digits."""
        if node.tag == _STR:
            digits = sys.get_int_max_str_digits()
            return _at(self.name, node.start_mark,
                       f"number '{_short(node.value)}' has more than {digits} digits",
                       hint="quote it to keep it as text")
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        return _at(self.name, node.start_mark, f"'{_short(node.value)}' is not a valid {tag}")

    def _duplicate(self, key: str, first: Loc, again: Loc) -> None:
        """Records a key written twice in one map, at the second, naming the first."""
        self.problems.append(Problem(
            f"duplicate key '{key}' (first written at line {first[1]})", self.name,
            again[1], again[2], hint="YAML would silently keep only the last one"))

    def _mapping(self, node: yaml.Node, depth: int) -> LocDict:
        """A ``LocDict`` recording where each key and each value was written.

        The hot loop of a load: marks become locations inline and ``__init__``
        is skipped, which pays for recording the key locations.
        """
        name, build = self.name, self.build
        out = _new_dict(LocDict)
        mark = node.start_mark
        out.loc = (name, mark.line + 1, mark.column + 1)
        locs: dict[str, Loc] = {}
        key_locs: dict[str, Loc] = {}
        out.locs, out.key_locs = locs, key_locs
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, _SCALAR_NODE) else str(
                build(key_node, depth))
            mark = key_node.start_mark
            at = (name, mark.line + 1, mark.column + 1)
            if key in out:
                self._duplicate(key, key_locs[key], at)
            out[key] = build(value_node, depth)
            mark = value_node.start_mark
            locs[key] = (name, mark.line + 1, mark.column + 1)
            key_locs[key] = at
        return out

    def _sequence(self, node: yaml.Node, depth: int) -> LocList:
        """A ``LocList`` recording where each item was written."""
        name, build = self.name, self.build
        out = _new_list(LocList)
        out.extend([build(child, depth) for child in node.value])
        mark = node.start_mark
        out.loc = (name, mark.line + 1, mark.column + 1)
        out.locs = [(name, m.line + 1, m.column + 1)
                    for m in (child.start_mark for child in node.value)]
        return out


def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes directly inside ``node``: keys and values of a map, items of a list."""
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expansion(root: yaml.Node) -> tuple[int, int] | None:
    """(nodes once every alias is expanded, nodes as written), or None when a map
    or list contains itself (an alias inside its own anchor).

    PyYAML hands back the anchored node itself for each alias, so sizes
    memoised by node identity cost one visit per map or list, even when the
    expansion has a billion nodes. An alias of a single scalar is not counted:
    it costs no more than its own characters. Iterative, so depth cannot recurse.
    """
    if isinstance(root, _SCALAR_NODE):
        return 1, 1
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    scalars = 0
    todo: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while todo:
        node, children = todo.pop()
        key = id(node)
        if children is not None:  # every child is sized by now
            open_nodes.discard(key)
            sizes[key] = 1 + sum(1 if isinstance(child, _SCALAR_NODE) else sizes[id(child)]
                                 for child in children)
        elif key in open_nodes:
            return None
        elif key not in sizes:
            children = _children(node)
            open_nodes.add(key)
            todo.append((node, children))
            for child in children:
                if isinstance(child, _SCALAR_NODE):
                    scalars += 1
                else:
                    todo.append((child, None))
    return sizes[id(root)], len(sizes) + scalars


def _offending_alias(text: str, limit: int) -> tuple[yaml.AliasEvent, bool] | None:
    """The first alias inside the map or list it names (True), or the first that
    takes the nodes made through aliases past ``limit`` (False).

    Nodes keep no trace of the alias that reached them, so only this error
    path replays the parse events to find it; it stops at the offender.
    """
    sizes: dict[str, int] = {}
    counts: list[list[Any]] = [[None, 0]]  # anchor and node count of each open collection
    open_anchors: set[str] = set()
    produced, loader = 0, yaml.CBaseLoader(text)
    try:
        while not isinstance(event := loader.get_event(), (yaml.StreamEndEvent, type(None))):
            if isinstance(event, yaml.CollectionStartEvent):
                counts.append([event.anchor, 1])
                open_anchors.add(event.anchor or "")
                continue
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    return event, True
                anchor, size = None, sizes.get(event.anchor or "", 0)
                produced += size  # a scalar's alias is not counted, as in ``_expansion``
                if produced > limit:
                    return event, False
                size = max(size, 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, size = counts.pop()
                open_anchors.discard(anchor)
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size = None, 1
            else:
                continue
            if anchor is not None:
                sizes[anchor] = size
            counts[-1][1] += size
    finally:
        loader.dispose()
    return None


def _may_alias(text: str) -> bool:
    """False only when the text holds no alias: that needs an anchor ('&') and a
    '*' where a token can start, which a glob, a cron line or "s3:*" is not."""
    if "&" not in text:
        return False
    if text.count("*") > 1000:  # a scan in C beats a loop over many stars
        return text.startswith("*") or _AFTER_TOKEN_START.search(text) is not None
    at = text.find("*")
    while at >= 0:
        if at == 0 or text[at - 1] in _TOKEN_START:
            return True
        at = text.find("*", at + 1)
    return False


def _check_aliases(root: yaml.Node, text: str, name: str, limit: int) -> None:
    """Refuses an alias bomb or a self-referencing alias before anything is built.

    Building copies an alias's whole subtree each time, so nine short lines of
    nested aliases ask for a billion nodes; the count comes first, in time
    proportional to the file, and is located only when it fails.
    """
    counts = _expansion(root)
    if counts is not None and counts[0] - counts[1] <= limit:
        return
    found = _offending_alias(text, limit)
    if found is None:  # not expected: the two counts agree; point at the document
        raise RenderError([_at(name, root.start_mark, "aliases expand without end")])
    event, recursive = found
    if recursive:
        problem = _at(name, event.start_mark,
                      f"alias '*{event.anchor}' is inside the map or list it names",
                      hint="an alias can only repeat a value that is complete before it")
    else:
        problem = _at(name, event.start_mark,
                      f"alias '*{event.anchor}' takes the nodes made through aliases past "
                      f"the limit yaml_alias_nodes ({limit})",
                      hint=limit_hint("yaml_alias_nodes"))
    raise RenderError([problem])


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting as libyaml does."""
    line, start = 1, 0
    for found in _BREAK.finditer(text, 0, index):
        line, start = line + 1, found.end()
    column = index - start + 1
    if line == 1 and text.startswith("\ufeff"):
        column -= 1  # the parser drops a byte order mark before counting
    return line, column


def _offset(text: str, mark: Any) -> int:
    """The index in ``text`` of a mark's line and column (error paths only: it copies)."""
    start = 1 if text.startswith("\ufeff") else 0  # not counted by the parser
    if mark.line:
        start = len(text) - len(_BREAK.split(text, maxsplit=mark.line)[-1])
    return start + int(mark.column)


def _first_too_deep(text: str, limit: int) -> Any:
    """The mark of the first map or list deeper than ``limit``, replaying events
    up to wherever the parser stopped; None when it stopped sooner.

    Call it with the text cut where libyaml gave up: it looks ahead for keys
    through every open ``[``, so on the whole text it fails before any event.
    """
    depth, loader = 0, yaml.CBaseLoader(text)
    try:
        while not isinstance(event := loader.get_event(), (yaml.StreamEndEvent, type(None))):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limit:
                    return event.start_mark
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, name: str, limits: Limits) -> Problem:
    """A parser error as one located problem.

    An unclosed bracket or quote is found only where the parser runs out of
    file, often lines later; its ``context_mark`` is where it opened. libyaml
    refuses nesting past 1000 levels itself; that is reported where our own,
    lower ``yaml_depth`` is first passed.
    """
    problem = exc.problem or ""
    if "maximum nesting depth" in problem:
        cut = text[:_offset(text, exc.problem_mark)] if exc.problem_mark else text
        mark = _first_too_deep(cut, limits.yaml_depth)
        if mark is not None:
            return _too_deep(name, mark, limits.yaml_depth)
        return _at(name, exc.problem_mark or exc.context_mark,
                   "YAML syntax error: maps and lists nested deeper than the parser allows",
                   hint="libyaml stops at 1000 levels, whatever the limit yaml_depth says")
    opener = _OPENERS.get(exc.context or "")
    opened, stopped = exc.context_mark, exc.problem_mark
    if opener and opened and stopped and problem.startswith(_RAN_ON):
        if opener == '"' and text.startswith("'", _offset(text, opened)):
            opener = "'"
        return _at(name, opened, f"YAML syntax error: unclosed {opener!r} opened here "
                   f"({problem} at line {stopped.line + 1}, column {stopped.column + 1})",
                   hint=f"close it with {_CLOSERS[opener]!r}")
    mark = stopped or opened
    what = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return Problem(f"YAML syntax error: {what}", name)
    return _at(name, mark, f"YAML syntax error: {what}")


def _reader_problem(text: str, name: str) -> Problem:
    """Where the first character YAML forbids (NUL, most control characters,
    lone surrogates, U+FFFE) is; the parser does not say."""
    found = _FORBIDDEN.search(text)
    if found is None:
        return Problem("YAML error: the text cannot be read", name)
    line, column = _position(text, found.start())
    code = ord(found.group())
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return Problem(f"character U+{code:04X} is not allowed in YAML", name, line, column,
                   hint=f'remove it, or write it as "{escape}" inside double quotes')


def _compose(text: str, name: str, limits: Limits) -> yaml.Node | None:
    """The document's node tree from the C parser; any parser error is located."""
    try:
        loader = yaml.CBaseLoader(text)  # C parser; every scalar arrives untyped
    except UnicodeEncodeError:  # a lone surrogate cannot be handed to libyaml
        raise RenderError([_reader_problem(text, name)]) from None
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise RenderError([_syntax_problem(exc, text, name, limits)]) from None
    except ReaderError:
        raise RenderError([_reader_problem(text, name)]) from None
    except yaml.YAMLError as exc:
        raise RenderError([Problem(f"YAML error: {exc}", name)]) from None
    finally:
        loader.dispose()


def _build(node: yaml.Node, name: str, limits: Limits) -> Any:
    """The document's value; every bad scalar or duplicate key is reported at once."""
    builder = _Builder(name, max_depth=limits.yaml_depth)
    try:
        doc = builder.build(node)
    except _TooDeep as exc:
        raise RenderError([exc.problem]) from None
    except RecursionError:  # only when the operator raised yaml_depth very high
        raise RenderError([Problem(
            f"maps and lists nested too deep for this process (limit yaml_depth is "
            f"{limits.yaml_depth})", name, hint="the operator can lower yaml_depth")]) from None
    if builder.problems:
        raise RenderError(builder.problems)
    return doc


def load_yaml_text(text: str, name: str, *, limits: Limits | None = None) -> Any:
    """Parse one YAML document; a syntax error or a broken limit is a ``RenderError``."""
    limits = limits or Limits()
    if len(text) > limits.file_bytes:  # characters are at least a byte each
        raise RenderError([_too_big(name, limits.file_bytes)])
    paused = gc.isenabled()
    gc.disable()  # a large tree of new objects makes the cyclic GC rescan it quadratically
    try:
        node = _compose(text, name, limits)
        if node is None:
            return None
        if _may_alias(text):
            _check_aliases(node, text, name, limits.yaml_alias_nodes)
        return _build(node, name, limits)
    finally:
        if paused:
            gc.enable()


def display_path(path: Path, root: Path) -> str:
    """The path as users should read it in messages: relative to the project."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _too_big(name: str, limit: int, size: int | None = None) -> Problem:
    """The problem for a file over ``file_bytes``."""
    actual = f"{size} bytes, " if size is not None else ""
    return Problem(f"file is {actual}over the limit file_bytes ({limit} bytes)", name,
                   hint=limit_hint("file_bytes"))


def _read(path: Path, name: str, limit: int) -> bytes:
    """The file's bytes, refused before reading when it is over ``limit``.

    A FIFO or a device (``/dev/zero`` behind a symlink) could block or never
    end, so only regular files are read, and never more than ``limit + 1`` bytes.
    """
    try:
        info = path.stat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise RenderError([Problem("cannot read file: not a regular file", name)])
        if info.st_size > limit:
            raise RenderError([_too_big(name, limit, info.st_size)])
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RenderError([Problem(f"cannot read file: {reason}", name)]) from None
    if len(data) > limit:  # it grew after stat
        raise RenderError([_too_big(name, limit)])
    return data


def _decode(data: bytes, name: str) -> str:
    """The text of a UTF-8 file; any other bytes are an error at their position,
    never silently replaced (a U+FFFD in a value would be applied as written)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start].decode("utf-8")
        line, column = _position(before, len(before))
        raise RenderError([Problem(
            f"not valid UTF-8 at line {line}, column {column}: save the file as UTF-8",
            name, line, column)]) from None


class YamlCache:
    """Parsed YAML documents keyed by content digest, least recently used dropped.

    One instance is shared by every project loaded in a process (``SHARED``),
    so the agent re-rendering an unchanged revision parses nothing: only the
    read and sha256 of each file remain. Parsed documents are shared, so the
    renderer never mutates them (overlays copy what they patch). The key holds
    the limits a parse was checked against, so a stricter policy re-checks.
    """

    def __init__(self, *, max_files: int = 4096) -> None:
        self._parsed: OrderedDict[tuple[str, str, int, int], Any] = OrderedDict()
        self._max = max_files
        self._lock = threading.Lock()

    def load(self, path: Path, *, name: str, limits: Limits | None = None) -> Any:
        """The parsed file; a missing, unreadable, oversized or non-UTF-8 file is
        a ``RenderError``."""
        limits = limits or Limits()
        data = _read(path, name, limits.file_bytes)
        key = (name, hashlib.sha256(data).hexdigest(), limits.yaml_alias_nodes,
               limits.yaml_depth)
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key]
        doc = load_yaml_text(_decode(data, name), name, limits=limits)
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


def key_where(container: Any, key: str) -> Loc | None:
    """Where ``key`` itself was written in ``container``, for messages about the
    key ("unknown key 'stakcs'"); a copy made without key locations falls back
    to the value's location, then the container's."""
    if isinstance(container, LocDict):
        found = container.key_locs.get(str(key))
        if found is not None:
            return found
    return where(container, key)


def problem_at(message: str, loc: Loc | None, *, hint: str | None = None) -> Problem:
    """A ``Problem`` at a recorded location."""
    if loc is None:
        return Problem(message, hint=hint)
    return Problem(message, loc[0], loc[1], loc[2], hint=hint)
