"""SOPS YAML files with ruamel's round-trip mode: key order and comments stay.

No file I/O. Two sops rules shape this module:

* timestamps stay strings (go-yaml v3 does not turn an untagged timestamp
  into a time), so the MAC hashes the text as written;
* comments are encrypted too (``#ENC[...,type:comment]``) with the path of
  the map they belong to as additional data. go-yaml and ruamel attach
  comments to different nodes, so the path is found from the comment's
  position: the map of the next entry at the same column, else of the
  nearest entry above it at or left of that column. Decryption also tries
  every other map path, and leaves a comment it cannot open as it is (as
  sops does); the MAC never covers comments.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString
from ruamel.yaml.tokens import CommentToken

from driftless.secrets.sops_cipher import SecretsError

__all__ = ["dump_yaml", "load_yaml", "map_comments"]

Entry = tuple[int, int, tuple[str, ...]]  # (line, column, path of the map or list holding it)
CommentFn = Callable[[str, list[tuple[str, ...]]], str | None]


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps timestamps as the text written."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_str)


def _yaml() -> YAML:
    """A round-trip YAML laid out like the sops CLI (4-space indent, no line wrap)."""
    y = YAML(typ="rt")
    y.Constructor = _Constructor
    y.indent(mapping=4, sequence=6, offset=4)
    y.width = 1 << 30  # a wrapped ENC[...] would still parse, but keep one value per line
    return y


def load_yaml(text: bytes) -> list[Any]:
    """Every document of a YAML stream; each must be a mapping (or empty)."""
    try:
        docs = list(_yaml().load_all(text.decode("utf-8")))
    except (YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SecretsError(f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    out = []
    for doc in docs:
        if doc is None:
            doc = CommentedMap()
        if not isinstance(doc, dict):
            raise SecretsError("sops only supports YAML documents that are mappings")
        out.append(doc)
    return out or [CommentedMap()]


def dump_yaml(docs: list[Any]) -> bytes:
    """Serialise documents; multi-line strings become literal blocks as go-yaml writes them."""
    for doc in docs:
        _literal_multiline(doc)
    buf = io.StringIO()
    if len(docs) == 1:
        _yaml().dump(docs[0], buf)
    else:
        _yaml().dump_all(docs, buf)
    return buf.getvalue().encode("utf-8")


def _literal_multiline(node: Any) -> None:
    """Use ``|`` for strings with newlines (readable keys, armored age blocks)."""
    items: Iterator[tuple[Any, Any]]
    if isinstance(node, dict):
        items = iter(list(node.items()))
    elif isinstance(node, list):
        items = iter(list(enumerate(node)))
    else:
        return
    for key, value in items:
        if isinstance(value, str) and "\n" in value and not isinstance(value,
                                                                      LiteralScalarString):
            node[key] = LiteralScalarString(value)
        else:
            _literal_multiline(value)


def map_comments(doc: Any, fn: CommentFn) -> None:
    """Rewrite each ``#`` comment line of ``doc`` with ``fn(text, candidate_paths)``
    (``None`` keeps the line); the first candidate is the comment's own map path."""
    entries = sorted(_entries(doc, ()))
    all_paths = list(dict.fromkeys([(), *(path for _, _, path in entries)]))
    seen: set[int] = set()
    for token in _tokens(doc):
        if id(token) in seen:
            continue
        seen.add(id(token))
        token.value = _rewrite(token, entries, all_paths, fn)


def _rewrite(token: CommentToken, entries: list[Entry], all_paths: list[tuple[str, ...]],
             fn: CommentFn) -> str:
    """Transform the comment lines of one token, keeping blank lines and indentation."""
    first_line = token.start_mark.line if token.start_mark is not None else 0
    parts = token.value.split("\n")
    for i, part in enumerate(parts):
        stripped = part.lstrip(" ")
        if not stripped.startswith("#"):
            continue
        column = token.column if i == 0 else len(part) - len(stripped)
        own = _owner(entries, first_line + i, column)
        result = fn(stripped[1:], [own, *(p for p in all_paths if p != own)])
        if result is not None:
            parts[i] = part[: len(part) - len(stripped)] + "#" + result
            if i == 0 and _inline(entries, first_line, column):
                token.start_mark.column = 0  # one space after the value, as go-yaml writes it
    return "\n".join(parts)


def _inline(entries: list[Entry], line: int, column: int) -> bool:
    """True when the comment follows a value on its own line (an end-of-line comment)."""
    return any(e[0] == line and e[1] < column for e in entries)


def _owner(entries: list[Entry], line: int, column: int) -> tuple[str, ...]:
    """The map path a comment at (line, column) belongs to, as go-yaml would see it."""
    following = [e for e in entries if e[0] > line]
    if following and following[0][1] == column:
        return following[0][2]
    before = [e for e in entries if e[0] <= line and e[1] <= column]
    return before[-1][2] if before else ()


def _entries(node: Any, path: tuple[str, ...]) -> Iterator[Entry]:
    """Position of every map key and list item (a list item counts from its dash)."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            line, col = node.lc.key(key) if node.lc.data else (0, 0)
            yield line, col, path
            yield from _entries(value, (*path, str(key)))
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            line, col = node.lc.item(i) if node.lc.data else (0, 2)
            yield line, max(col - 2, 0), path
            yield from _entries(value, path)


def _tokens(node: Any) -> Iterator[CommentToken]:
    """Every comment token reachable from ``node``'s comment attributes."""
    ca = getattr(node, "ca", None)
    if ca is not None:
        yield from _flat_tokens([ca.comment, list(ca.items.values()), ca.end])
    if isinstance(node, dict):
        for value in node.values():
            yield from _tokens(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tokens(value)


def _flat_tokens(value: Any) -> Iterator[CommentToken]:
    if isinstance(value, CommentToken):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _flat_tokens(item)
