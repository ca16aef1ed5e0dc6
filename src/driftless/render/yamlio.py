"""Reading the user's YAML quickly while keeping file:line:col for messages.

PyYAML's C parser reads the text. A document without aliases (nearly all)
is built straight from the parser's events (``_EventBuilder``); anything
else, and anything that document holds which must be reported, goes the
longer way: the parser composes the node tree and ``_Builder`` turns it into
values. Both record where every key, value and list item starts, so a
problem found much later (a bad reference, a schema error) still points at
its line. Parsed files are cached by content digest for the
life of one ``YamlCache``, so a no-op re-render parses nothing.

Files come from untrusted repositories, so loading one must never hang,
exhaust memory or end in a traceback: size, nesting depth and alias
expansion are capped by the operator's ``Limits``, and every failure is a
``RenderError`` at a file:line:col; ``yamlguard`` holds those checks and
finds the positions. I/O: reads files (through ``yamlguard``).
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftless.errors import Problem, RenderError
from driftless.model.gcpause import gc_paused
from driftless.model.policy import Limits
from driftless.render.inputs import note_resolved
from driftless.render.yamlguard import (
    at_mark,
    check_aliases,
    decode_utf8,
    may_alias,
    read_limited,
    reader_problem,
    syntax_problem,
    too_big,
    too_deep,
)

if TYPE_CHECKING:
    import yaml  # imported on the first parse (``_yaml``): a cached render parses nothing

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
_LONG = 256  # scalars longer than this are converted once however often aliased
_NUMERIC = frozenset("0123456789-+.")  # how a plain scalar that may be a number starts
_new_dict, _new_list = dict.__new__, list.__new__  # no __init__: the builder sets every slot
_SCALARS: dict[str, Any] = {}  # tag -> PyYAML's constructor for it (see ``_yaml``)
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


def _yaml() -> Any:
    """PyYAML, imported on first use, and the names the builder uses set once."""
    import yaml

    global _SCALAR_NODE, _MAPPING_NODE, _C, _LOADER
    if not _SCALARS:
        _SCALAR_NODE, _MAPPING_NODE = yaml.ScalarNode, yaml.MappingNode
        _C = yaml.constructor.SafeConstructor
        _SCALARS.update({
            "tag:yaml.org,2002:int": _C.construct_yaml_int,
            "tag:yaml.org,2002:float": _C.construct_yaml_float,
            "tag:yaml.org,2002:bool": _C.construct_yaml_bool,
            "tag:yaml.org,2002:null": _C.construct_yaml_null,
        })
        _LOADER = _untagged_loader(yaml)
    return yaml


def _untagged_loader(yaml: Any) -> Any:
    """``CBaseLoader`` with its resolver answered from a table.

    The C parser asks the resolver for the tag of every untagged node (~120,000
    times for 10,000 written-out resources), and ``BaseResolver.resolve``, with
    no implicit or path resolvers registered, always answers its kind's default
    tag, after ~0.5 us of Python: a fifth of composing a big stack. The table
    gives the same answers. Should anyone register a resolver on the base
    loader, it is used as it is."""
    base = yaml.CBaseLoader
    if base.yaml_implicit_resolvers or base.yaml_path_resolvers:
        return base
    tags: dict[type, str] = {yaml.ScalarNode: base.DEFAULT_SCALAR_TAG, yaml.SequenceNode:
                             base.DEFAULT_SEQUENCE_TAG, yaml.MappingNode: base.DEFAULT_MAPPING_TAG}

    class UntaggedLoader(base):  # type: ignore[misc, valid-type]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            return tags[kind]

    return UntaggedLoader


_SCALAR_NODE: Any = None
_LOADER: Any = None
_MAPPING_NODE: Any = None
_C: Any = None


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


class _TooDeep(Exception):
    """Raised out of the recursive build at the first node past ``yaml_depth``."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _untagged(value: str, style: str | None) -> Any:
    """The value of an untagged scalar: quoted text stays text (``Quoted`` when it
    holds ``${``), a plain one follows the YAML 1.2 core schema. Plain words skip
    ``plain_scalar``: most scalars are. Raises what ``plain_scalar`` raises."""
    if style:
        return Quoted(value) if "${" in value else value
    if value[:1] in _NUMERIC or value in _WORDS:
        return plain_scalar(value)
    return value


def _located_dict(name: str, mark: Any) -> tuple[LocDict, dict[str, Loc], dict[str, Loc]]:
    """A new ``LocDict`` written at ``mark``, and its value and key location maps
    (``__init__`` skipped: the builders set every slot)."""
    out = _new_dict(LocDict)
    out.loc = (name, mark.line + 1, mark.column + 1)
    out.locs, out.key_locs = {}, {}
    return out, out.locs, out.key_locs


def _located_list(name: str, mark: Any) -> tuple[LocList, list[Loc]]:
    """A new ``LocList`` written at ``mark``, and its item location list."""
    out = _new_list(LocList)
    out.loc = (name, mark.line + 1, mark.column + 1)
    out.locs = []
    return out, out.locs


class _Builder:
    """Turns composed nodes into values; faster than PyYAML's constructor.

    Composing in C and walking the node tree here takes about half the time
    of ``yaml.load`` with the C loader, and gives us every node's mark.
    Depth is passed down per map and list, so recursion stops at ``max_depth``.
    """

    def __init__(self, name: str, *, max_depth: int, consume: bool = False) -> None:
        self.name = name
        self.max_depth = max_depth
        # a document without aliases visits each node once: a built node is let go,
        # so the tree (~4x the built values, 45 MB for 60,000 lines) shrinks as
        # the values grow instead of both being held at once
        self.consume = consume
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
            raise _TooDeep(too_deep(self.name, node.start_mark, self.max_depth))
        if isinstance(node, _MAPPING_NODE):
            return self._mapping(node, depth + 1)
        return self._sequence(node, depth + 1)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        """A scalar's value; a bad one is recorded and kept as text."""
        try:
            if node.tag != _STR:  # an explicit tag such as !!int
                fn = _SCALARS.get(node.tag)
                return fn(self._constructor, node) if fn is not None else node.value
            return _untagged(node.value, node.style)
        except _SCALAR_ERRORS:
            self.problems.append(self._bad_scalar(node))
            return node.value

    def _long_scalar(self, node: yaml.ScalarNode) -> Any:
        """A long scalar's value, made once: each alias of a megabyte string would
        otherwise scan it again, or copy it (``Quoted``), or report it again."""
        if self.consume:  # no aliases: this node is built once
            return self._scalar(node)
        key = id(node)  # nodes live as long as the builder, so ids stay theirs
        if key not in self._long:
            self._long[key] = self._scalar(node)
        return self._long[key]

    def _bad_scalar(self, node: yaml.Node) -> Problem:
        """Why a scalar has no value: a tag it does not fit, or too many digits."""
        if node.tag == _STR:
            digits = sys.get_int_max_str_digits()
            return at_mark(self.name, node.start_mark,
                           f"number '{_short(node.value)}' has more than {digits} digits",
                           hint="quote it to keep it as text")
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        return at_mark(self.name, node.start_mark, f"'{_short(node.value)}' is not a valid {tag}")

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
        out, locs, key_locs = _located_dict(name, node.start_mark)
        pairs, consume = node.value, self.consume
        for n, (key_node, value_node) in enumerate(pairs):
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
            if consume:
                pairs[n] = None
        return out

    def _sequence(self, node: yaml.Node, depth: int) -> LocList:
        """A ``LocList`` recording where each item was written."""
        name, build = self.name, self.build
        out, locs = _located_list(name, node.start_mark)
        children, consume = node.value, self.consume
        for n, child in enumerate(children):
            out.append(build(child, depth))
            mark = child.start_mark
            locs.append((name, mark.line + 1, mark.column + 1))
            if consume:
                children[n] = None
        return out


def _compose(text: str, name: str, limits: Limits) -> yaml.Node | None:
    """The document's node tree from the C parser; any parser error is located."""
    lib = _yaml()
    try:
        loader = _LOADER(text)  # C parser; every scalar arrives untyped
    except UnicodeEncodeError:  # a lone surrogate cannot be handed to libyaml
        raise RenderError([reader_problem(text, name)]) from None
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    except lib.MarkedYAMLError as exc:
        raise RenderError([syntax_problem(exc, text, name, limits)]) from None
    except lib.reader.ReaderError:
        raise RenderError([reader_problem(text, name)]) from None
    except lib.YAMLError as exc:
        raise RenderError([Problem(f"YAML error: {exc}", name)]) from None
    finally:
        loader.dispose()


class _Fallback(Exception):
    """Something only the node builder reports exactly (an error, a problem, a tag,
    an anchor): the document is built again that way."""


_UNTAGGED = (None, "!")  # the tags of an event the parser left for the resolver


class _EventBuilder:
    """Builds a document without aliases straight from the C parser's events.

    Composing the node tree first (``_compose``) holds ~45 MB for 60,000 lines
    before a value is built, the peak of loading a large written-out stack;
    the events are let go one by one instead. It gives exactly the node
    builder's values and locations for a clean document, and leaves anything
    else to it (``_Fallback``): a syntax error, a bad scalar, a duplicate key,
    an explicit tag, an anchor, too deep a nesting, a second document, so every
    message stays the node builder's own.
    """

    def __init__(self, loader: Any, name: str, max_depth: int) -> None:
        lib = _yaml()
        self.get, self.name, self.max_depth = loader.get_event, name, max_depth
        self.scalar, self.mapping, self.sequence = (
            lib.ScalarEvent, lib.MappingStartEvent, lib.SequenceStartEvent)
        self.mapping_end, self.sequence_end = lib.MappingEndEvent, lib.SequenceEndEvent

    def document(self, lib: Any) -> tuple[bool, Any]:
        """(whether the stream held a document, its value)."""
        get = self.get
        get()  # the stream's start
        if isinstance(get(), lib.StreamEndEvent):
            return False, None
        value = self.value(get(), 0)
        get()  # the document's end
        if not isinstance(get(), lib.StreamEndEvent):
            raise _Fallback  # a second document: the node builder names it
        return True, value

    def value(self, event: Any, depth: int) -> Any:
        """The value that starts with ``event``, found inside ``depth`` maps and lists."""
        kind = event.__class__
        if kind is self.scalar:
            return self._scalar(event)
        if event.anchor is not None or depth >= self.max_depth or (
                kind is not self.mapping and kind is not self.sequence):
            raise _Fallback  # an anchor, too deep, or an alias
        if kind is self.mapping:
            return self._mapping(event, depth + 1)
        return self._sequence(event, depth + 1)

    def _scalar(self, event: Any) -> Any:
        """``_Builder._scalar`` of an untagged scalar."""
        if event.anchor is not None or event.tag not in _UNTAGGED:
            raise _Fallback  # an anchor or a tag: the node builder's to handle
        try:
            return _untagged(event.value, event.style)
        except _SCALAR_ERRORS:
            raise _Fallback from None

    def _mapping(self, start: Any, depth: int) -> LocDict:
        name, get, scalar, end, value = self.name, self.get, self.scalar, self.mapping_end, \
            self.value
        out, locs, key_locs = _located_dict(name, start.start_mark)
        while True:
            event = get()
            if event.__class__ is end:
                return out
            if event.__class__ is not scalar:
                key = str(value(event, depth))
            elif event.anchor is None and event.tag in _UNTAGGED:
                key = event.value
            else:
                raise _Fallback
            mark = event.start_mark
            if key in out:
                raise _Fallback  # a duplicate key: reported by the node builder
            event = get()
            out[key] = value(event, depth)
            key_locs[key] = (name, mark.line + 1, mark.column + 1)
            mark = event.start_mark
            locs[key] = (name, mark.line + 1, mark.column + 1)

    def _sequence(self, start: Any, depth: int) -> LocList:
        name, get, end, value = self.name, self.get, self.sequence_end, self.value
        out, locs = _located_list(name, start.start_mark)
        while True:
            event = get()
            if event.__class__ is end:
                return out
            out.append(value(event, depth))
            mark = event.start_mark
            locs.append((name, mark.line + 1, mark.column + 1))


def _from_events(text: str, name: str, limits: Limits) -> tuple[bool, Any]:
    """(True, value) when ``_EventBuilder`` built the document (None: no document),
    else (False, None) for the node builder to do."""
    lib = _yaml()
    try:
        loader = _LOADER(text)
    except UnicodeEncodeError:
        return False, None
    try:
        found, value = _EventBuilder(loader, name, limits.yaml_depth).document(lib)
    except (_Fallback, lib.YAMLError, RecursionError):
        return False, None
    finally:
        loader.dispose()
    return True, value if found else None


def _build(node: yaml.Node, name: str, limits: Limits, *, consume: bool = False) -> Any:
    """The document's value; every bad scalar or duplicate key is reported at once.
    ``consume``: the document has no aliases, so the tree is let go while built."""
    builder = _Builder(name, max_depth=limits.yaml_depth, consume=consume)
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
        raise RenderError([too_big(name, limits.file_bytes)])
    aliased = may_alias(text)
    with gc_paused():  # a large tree of new objects: the GC would rescan it quadratically
        if not aliased:
            built, doc = _from_events(text, name, limits)
            if built:
                return doc
        node = _compose(text, name, limits)
        if node is None:
            return None
        if aliased:
            check_aliases(node, text, name, limits.yaml_alias_nodes)
            return _build(node, name, limits)
        return _build(node, name, limits, consume=True)


def display_path(path: Path, root: Path) -> str:
    """The path as users should read it in messages: relative to the project."""
    real = path.resolve()
    note_resolved(path, real)
    try:
        return str(real.relative_to(root.resolve()))
    except ValueError:
        return str(path)


class YamlCache:
    """Parsed YAML documents keyed by content digest, least recently used dropped.

    One instance is shared by every project loaded in a process (``SHARED``),
    so the agent re-rendering an unchanged revision parses nothing: only the
    read and sha256 of each file remain. Parsed documents are shared, so the
    renderer never mutates them (overlays copy what they patch). The key holds
    the limits a parse was checked against, so a stricter policy re-checks.
    """

    def __init__(self, *, max_files: int = 4096, max_bytes: int = 64 << 20,
                 versions: int = 1) -> None:
        self._parsed: OrderedDict[tuple[str, str, int, int], tuple[Any, int]] = OrderedDict()
        self._max, self._max_bytes, self._versions = max_files, max_bytes, versions
        self._bytes = 0
        self._lock = threading.Lock()

    def load(self, path: Path, *, name: str, limits: Limits | None = None) -> Any:
        """The parsed file; a missing, unreadable, oversized or non-UTF-8 file is
        a ``RenderError``."""
        limits = limits or Limits()
        data = read_limited(path, name, limits.file_bytes)
        key = (name, hashlib.sha256(data).hexdigest(), limits.yaml_alias_nodes,
               limits.yaml_depth)
        with self._lock:
            if key in self._parsed:
                self._parsed.move_to_end(key)
                return self._parsed[key][0]
        doc = load_yaml_text(decode_utf8(data, name), name, limits=limits)
        with self._lock:
            self._add(key, doc, len(data))
        return doc

    def _add(self, key: tuple[str, str, int, int], doc: Any, size: int) -> None:
        """Keep ``doc``; drop older versions of the same file past ``versions`` (an
        agent following commits needs the current one; a rollback parses its
        revision again), then the least recently used past the file and byte
        bounds (bytes of YAML text: the parsed form is a roughly constant multiple)."""
        if key in self._parsed:
            return
        same = [k for k in self._parsed if k[0] == key[0] and k[2:] == key[2:]]
        for old in same[: max(0, len(same) + 1 - self._versions)]:
            self._bytes -= self._parsed.pop(old)[1]
        self._parsed[key] = (doc, size)
        self._bytes += size
        while len(self._parsed) > self._max or (self._bytes > self._max_bytes
                                                and len(self._parsed) > 1):
            self._bytes -= self._parsed.popitem(last=False)[1][1]


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
