"""The built-in functions of ``${...}`` — a short list on purpose.

``file`` and ``templatefile`` read files inside the project (nothing else:
an agent renders whatever a commit says, so a path may not escape the
repository). Everything else is pure. Arguments arrive revealed; the
caller re-wraps the result as ``Sensitive`` when any argument was secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FUNCTIONS", "FunctionError", "read_project_file"]


class FunctionError(ValueError):
    """A function was called wrongly; the message says how to call it."""


def read_project_file(base: Path, root: Path, name: Any) -> str:
    """Text of ``name`` relative to ``base``; refuses paths outside ``root``."""
    if not isinstance(name, str):
        raise FunctionError("expects a file path string")
    path = (base / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise FunctionError(f"'{name}' is outside the project; only project files can be read")
    try:
        return path.read_text()
    except OSError as exc:
        raise FunctionError(f"cannot read '{name}': {exc.strerror or exc}") from None


def _arity(args: Sequence[Any], low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        raise FunctionError(f"takes {usage}, got {len(args)} argument(s)")


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FunctionError(f"expects {what} to be a string")
    return str(value)


def _join(args: Sequence[Any]) -> str:
    _arity(args, 2, 2, "(separator, list)")
    sep, items = args
    if not isinstance(items, list | tuple):
        raise FunctionError("expects a list as its second argument")
    return _text(sep, "the separator").join(_text(i, "each item") for i in items)


def _format(args: Sequence[Any]) -> str:
    if not args:
        raise FunctionError("takes (format, values...) like format(\"%s-%d\", name, 3)")
    try:
        return _text(args[0], "the format") % tuple(args[1:])
    except (TypeError, ValueError) as exc:
        raise FunctionError(f"format does not match its values: {exc}") from None


def _lookup(args: Sequence[Any]) -> Any:
    _arity(args, 2, 3, "(map, key[, default])")
    table, key = args[0], args[1]
    if not isinstance(table, Mapping):
        raise FunctionError("expects a map as its first argument")
    if key in table:
        return table[key]
    if len(args) == 3:
        return args[2]
    known = ", ".join(sorted(str(k) for k in table)) or "none"
    raise FunctionError(f"key '{key}' is not in the map (keys: {known}); give a default")


def _base64(args: Sequence[Any]) -> str:
    _arity(args, 1, 1, "(string)")
    return base64.b64encode(_text(args[0], "its argument").encode()).decode()


def _sha256(args: Sequence[Any]) -> str:
    _arity(args, 1, 1, "(string)")
    return hashlib.sha256(_text(args[0], "its argument").encode()).hexdigest()


def _jsonencode(args: Sequence[Any]) -> str:
    _arity(args, 1, 1, "(value)")
    return json.dumps(args[0], sort_keys=True, separators=(",", ":"))


Pure = Callable[[Sequence[Any]], Any]

FUNCTIONS: Mapping[str, Pure | None] = {
    "base64encode": _base64,
    "file": None,  # needs the stack directory: evaluated by the caller
    "format": _format,
    "join": _join,
    "jsonencode": _jsonencode,
    "lookup": _lookup,
    "sha256": _sha256,
    "templatefile": None,  # needs the evaluator itself
}
