"""Guards the YAML loader runs on untrusted files, and where their errors are.

A file is read only when it is regular and within ``file_bytes``, and only
as strict UTF-8. An alias bomb (nine short lines asking for a billion
nodes) is counted before anything is built, and a self-referencing alias is
refused; maps and lists nested past ``yaml_depth`` are found; and parser
errors that libyaml reports without a usable position (an unclosed bracket,
a forbidden character, nesting past its own 1000 levels) are located at a
file:line:col. Only ``yamlio`` calls this. I/O: reads files (``read_limited``).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftless.errors import Problem, RenderError
from driftless.model.policy import Limits, limit_hint
from driftless.render.inputs import note_file

if TYPE_CHECKING:
    import yaml  # imported where a file is parsed: a cached render never parses

__all__ = [
    "at_mark",
    "check_aliases",
    "decode_utf8",
    "may_alias",
    "read_limited",
    "reader_problem",
    "syntax_problem",
    "too_big",
    "too_deep",
]

# libyaml's line breaks, and the characters its reader refuses (it says only
# "control characters are not allowed", without a usable position).
# Compiled on first use (``_re``): the wide character class alone costs ~4 ms
# of every start, and a cached render never reads a file.
_BREAK = "\r\n|[\r\n\x85\u2028\u2029]"
_FORBIDDEN = "[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
# Parser contexts whose error means "this bracket or quote was never closed",
# when the problem is running into something other than its closer.
_OPENERS = {"while parsing a flow sequence": "[", "while parsing a flow mapping": "{",
            "while scanning a quoted scalar": '"'}
# What may stand before a token (generously: a miss would let a bomb through).
_TOKEN_START = frozenset(" \t\r\n\x85\u2028\u2029\ufeff[]{},:?-")
_AFTER_TOKEN_START = r"[\s\[\]{},:?\-\ufeff]\*"  # \s has every break above
_CLOSERS = {"[": "]", "{": "}", '"': '"', "'": "'"}
_RAN_ON = ("did not find expected ','", "found unexpected end of stream",
           "found unexpected document indicator")


def _re(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled (``re`` keeps its own cache of compiled patterns)."""
    return re.compile(pattern)


def at_mark(name: str, mark: Any, message: str, *, hint: str | None = None) -> Problem:
    """A ``Problem`` at a PyYAML mark (0-based line and column)."""
    return Problem(message, name, mark.line + 1, mark.column + 1, hint=hint)


def too_deep(name: str, mark: Any, limit: int) -> Problem:
    """The problem for maps and lists nested deeper than ``yaml_depth``."""
    return at_mark(name, mark, f"maps and lists nested deeper than the limit yaml_depth ({limit})",
                   hint=limit_hint("yaml_depth"))




def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes directly inside ``node``: keys and values of a map, items of a list."""
    import yaml

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
    import yaml

    if isinstance(root, yaml.ScalarNode):
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
            sizes[key] = 1 + sum(1 if isinstance(child, yaml.ScalarNode) else sizes[id(child)]
                                 for child in children)
        elif key in open_nodes:
            return None
        elif key not in sizes:
            children = _children(node)
            open_nodes.add(key)
            todo.append((node, children))
            for child in children:
                if isinstance(child, yaml.ScalarNode):
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
    import yaml

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


def may_alias(text: str) -> bool:
    """False only when the text holds no alias: that needs an anchor ('&') and a
    '*' where a token can start, which a glob, a cron line or "s3:*" is not."""
    if "&" not in text:
        return False
    if text.count("*") > 1000:  # a scan in C beats a loop over many stars
        return text.startswith("*") or _re(_AFTER_TOKEN_START).search(text) is not None
    at = text.find("*")
    while at >= 0:
        if at == 0 or text[at - 1] in _TOKEN_START:
            return True
        at = text.find("*", at + 1)
    return False


def check_aliases(root: yaml.Node, text: str, name: str, limit: int) -> None:
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
        raise RenderError([at_mark(name, root.start_mark, "aliases expand without end")])
    event, recursive = found
    if recursive:
        problem = at_mark(name, event.start_mark,
                          f"alias '*{event.anchor}' is inside the map or list it names",
                          hint="an alias can only repeat a value that is complete before it")
    else:
        problem = at_mark(name, event.start_mark,
                          f"alias '*{event.anchor}' takes the nodes made through aliases past "
                          f"the limit yaml_alias_nodes ({limit})",
                          hint=limit_hint("yaml_alias_nodes"))
    raise RenderError([problem])


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting as libyaml does."""
    line, start = 1, 0
    for found in _re(_BREAK).finditer(text, 0, index):
        line, start = line + 1, found.end()
    column = index - start + 1
    if line == 1 and text.startswith("\ufeff"):
        column -= 1  # the parser drops a byte order mark before counting
    return line, column


def _offset(text: str, mark: Any) -> int:
    """The index in ``text`` of a mark's line and column (error paths only: it copies)."""
    start = 1 if text.startswith("\ufeff") else 0  # not counted by the parser
    if mark.line:
        start = len(text) - len(_re(_BREAK).split(text, maxsplit=mark.line)[-1])
    return start + int(mark.column)


def _first_too_deep(text: str, limit: int) -> Any:
    """The mark of the first map or list deeper than ``limit``, replaying events
    up to wherever the parser stopped; None when it stopped sooner.

    Call it with the text cut where libyaml gave up: it looks ahead for keys
    through every open ``[``, so on the whole text it fails before any event.
    """
    import yaml

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


def syntax_problem(exc: yaml.MarkedYAMLError, text: str, name: str, limits: Limits) -> Problem:
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
            return too_deep(name, mark, limits.yaml_depth)
        return at_mark(name, exc.problem_mark or exc.context_mark,
                       "YAML syntax error: maps and lists nested deeper than the parser allows",
                       hint="libyaml stops at 1000 levels, whatever the limit yaml_depth says")
    opener = _OPENERS.get(exc.context or "")
    opened, stopped = exc.context_mark, exc.problem_mark
    if opener and opened and stopped and problem.startswith(_RAN_ON):
        if opener == '"' and text.startswith("'", _offset(text, opened)):
            opener = "'"
        return at_mark(name, opened, f"YAML syntax error: unclosed {opener!r} opened here "
                       f"({problem} at line {stopped.line + 1}, column {stopped.column + 1})",
                       hint=f"close it with {_CLOSERS[opener]!r}")
    mark = stopped or opened
    what = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return Problem(f"YAML syntax error: {what}", name)
    return at_mark(name, mark, f"YAML syntax error: {what}")


def reader_problem(text: str, name: str) -> Problem:
    """Where the first character YAML forbids (NUL, most control characters,
    lone surrogates, U+FFFE) is; the parser does not say."""
    found = _re(_FORBIDDEN).search(text)
    if found is None:
        return Problem("YAML error: the text cannot be read", name)
    line, column = _position(text, found.start())
    code = ord(found.group())
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return Problem(f"character U+{code:04X} is not allowed in YAML", name, line, column,
                   hint=f'remove it, or write it as "{escape}" inside double quotes')


def too_big(name: str, limit: int, size: int | None = None) -> Problem:
    """The problem for a file over ``file_bytes``."""
    actual = f"{size} bytes, " if size is not None else ""
    return Problem(f"file is {actual}over the limit file_bytes ({limit} bytes)", name,
                   hint=limit_hint("file_bytes"))


def read_limited(path: Path, name: str, limit: int) -> bytes:
    """The file's bytes, refused before reading when it is over ``limit``.

    A FIFO or a device (``/dev/zero`` behind a symlink) could block or never
    end, so only regular files are read, and never more than ``limit + 1`` bytes.
    """
    try:
        info = path.stat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise RenderError([Problem("cannot read file: not a regular file", name)])
        if info.st_size > limit:
            raise RenderError([too_big(name, limit, info.st_size)])
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RenderError([Problem(f"cannot read file: {reason}", name)]) from None
    if len(data) > limit:  # it grew after stat
        raise RenderError([too_big(name, limit)])
    note_file(path, data)
    return data


def decode_utf8(data: bytes, name: str) -> str:
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
