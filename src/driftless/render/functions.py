"""The built-in functions of ``${...}`` — a short list on purpose.

Arguments come from untrusted Git, so every function is bounded:

* ``file``, ``filebase64`` and ``templatefile`` read regular files inside the
  project or a root the operator allowed (``Policy.read_roots``), after
  resolving symlinks, and never open a FIFO, device or directory;
* no function returns a string longer than the limit ``string_bytes``, and
  results are sized *before* they are built (``format("%999999999d", 1)``
  is refused without allocating anything);
* one string's functions together may return at most ``TOTAL_FACTOR`` times
  that limit (``Budget``), so repeating a call cannot multiply memory or time.

Functions receive their arguments as evaluated (secrets still wrapped) and
compute on revealed copies; messages show arguments through ``spell``, so a
secret prints as ``(sensitive)``. The caller re-wraps the result as
``Sensitive`` when any argument was secret.

What every call shares (``Args``, ``Budget``, ``FunctionError``, size
checks) is in ``calls``; reading files is in ``files``; ``format`` is in
``format_spec``. This module holds the string functions and the table.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from driftless.model import Sensitive
from driftless.render.calls import (
    TOTAL_FACTOR,
    Args,
    Budget,
    FunctionError,
    check_size,
    json_text,
    text_arg,
)
from driftless.render.files import file_base64, file_text, read_project_file, read_template
from driftless.render.format_spec import format_values
from driftless.render.spell import kind, spell

__all__ = [
    "FUNCTIONS",
    "MAX_TEMPLATE_DEPTH",
    "TEMPLATE_COST",
    "TOTAL_FACTOR",
    "Args",
    "Budget",
    "FunctionError",
    "check_size",
    "read_project_file",
    "read_template",
]

MAX_TEMPLATE_DEPTH = 8  # templatefile inside templatefile
TEMPLATE_COST = 4096  # what expanding a template costs besides its text and result


# --- strings -----------------------------------------------------------------------------


def _join(args: Args) -> str:
    args.arity(2, 2, "(separator, list)")
    sep, items = args.plain
    if not isinstance(items, list | tuple):
        raise FunctionError(f"expects a list as its second argument, got {kind(items)}")
    sep = text_arg(sep, "the separator")
    parts = [text_arg(i, "each item") for i in items]
    check_size(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), args.policy)
    return sep.join(parts)


def _lookup(args: Args) -> Any:
    args.arity(2, 3, "(map, key[, default])")
    table, key = args.plain[0], args.plain[1]
    if not isinstance(table, Mapping):
        raise FunctionError(f"expects a map as its first argument, got {kind(table)}")
    if isinstance(key, str | int | float | bool) and key in table:
        return table[key]
    if len(args.raw) == 3:
        return args.raw[2]
    known = "(sensitive)" if isinstance(args.raw[0], Sensitive) else (
        ", ".join(spell(k) for k in sorted(map(str, table))[:20]) or "none")
    raise FunctionError(f"key {args.shown(1)} is not in the map (keys: {known}); give a default")


def _base64(args: Args) -> str:
    args.arity(1, 1, "(string)")
    data = text_arg(args.plain[0], "its argument").encode()
    check_size((len(data) + 2) // 3 * 4, args.policy)
    return base64.b64encode(data).decode("ascii")


def _sha256(args: Args) -> str:
    args.arity(1, 1, "(string)")
    return hashlib.sha256(text_arg(args.plain[0], "its argument").encode()).hexdigest()


def _jsonencode(args: Args) -> str:
    args.arity(1, 1, "(value)")
    return json_text(args.plain[0], args.policy)


Pure = Callable[[Args], Any]

FUNCTIONS: Mapping[str, Pure | None] = {
    "base64encode": _base64,
    "file": file_text,
    "filebase64": file_base64,
    "format": format_values,
    "join": _join,
    "jsonencode": _jsonencode,
    "lookup": _lookup,
    "sha256": _sha256,
    "templatefile": None,  # needs the evaluator itself
}
