"""Values as a user wrote them in YAML, for messages.

Every message of the expression language and of variable checks shows a
value through ``spell``, so users read ``true``, ``null``, ``'a b'`` and
``[a, 1]`` rather than Python's ``True``, ``None`` and ``['a', 1]``. A
secret anywhere in the value prints as ``(sensitive)``; long or deep values
are cut short, because a message must stay readable and small even when the
value is a 4 MiB string from an untrusted repository. Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from driftless.model import Sensitive, Unknown
from driftless.model.values import Deferred

__all__ = ["SECRET", "kind", "spell", "spell_key"]

SECRET = "(sensitive)"
_MAX_TEXT = 80  # characters of one string shown before "..."
_MAX_ITEMS = 10  # items of a list or map shown before "..."
_MAX_DEPTH = 3  # nesting shown before "..."
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,79}")


def spell(value: Any) -> str:
    """``value`` in YAML spelling, short, with secrets masked."""
    return _spell(value, 0)


def spell_key(key: Any) -> str:
    """A map key: bare when it reads unambiguously as a name, else spelt as a value."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key) and key not in _WORDS:
        return key
    return spell(key)


def kind(value: Any) -> str:
    """The YAML kind of a value (string, integer, ...), never its content."""
    if isinstance(value, Sensitive):
        return kind(value.value)
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "list"
    return "map" if isinstance(value, Mapping) else type(value).__name__


_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "~", ""})


def _spell(value: Any, depth: int) -> str:
    if isinstance(value, Sensitive):
        return SECRET
    if isinstance(value, Unknown | Deferred):
        return "(known after apply)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _integer(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Mapping):
        return _container(value, depth, "{", "}")
    if isinstance(value, list | tuple):
        return _container(value, depth, "[", "]")
    return f"({kind(value)})"


def _integer(value: int) -> str:
    """Digits, or a summary for an integer too long to print (Python refuses > 4300 digits)."""
    if value.bit_length() > 256:
        return f"(an integer of about {int(value.bit_length() * 0.30103)} digits)"
    return str(value)


def _number(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def _quote(text: str) -> str:
    """Single-quoted as YAML does it ('' for a quote), cut at ``_MAX_TEXT``."""
    short = text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "..."
    shown = "".join(c if c.isprintable() else _escape(c) for c in short)
    return "'" + shown.replace("'", "''") + "'"


def _escape(char: str) -> str:
    """A control or invisible character as an escape, so a message stays one clean line."""
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\u{ord(char):04x}")


def _container(value: Any, depth: int, open_: str, close: str) -> str:
    if not value:
        return open_ + close
    if depth >= _MAX_DEPTH:
        return open_ + "..." + close
    if isinstance(value, Mapping):
        items = [f"{spell_key(k)}: {_spell(v, depth + 1)}"
                 for k, v in _first(value.items())]
    else:
        items = [_spell(v, depth + 1) for v in _first(value)]
    if len(value) > _MAX_ITEMS:
        items.append("...")
    return open_ + ", ".join(items) + close


def _first(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if len(out) == _MAX_ITEMS:
            break
        out.append(item)
    return out
