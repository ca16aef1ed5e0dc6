"""One call of a built-in function: its arguments, its errors, and its bounds.

Every function of ``functions`` takes an ``Args`` and raises ``FunctionError``.
No function returns a string longer than the limit ``string_bytes``, and
results are sized *before* they are built (``check_size``, ``json_size``);
one string's functions together may return at most ``TOTAL_FACTOR`` times
that limit (``Budget``), so repeating a call cannot multiply memory or time.
``raw`` arguments keep secrets wrapped for messages; functions compute on
``plain``, revealed copies. I/O: none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import Any

from driftless.model import reveal
from driftless.model.policy import Policy, limit_hint
from driftless.records import record
from driftless.render.spell import kind, spell

__all__ = [
    "TOTAL_FACTOR",
    "Args",
    "Budget",
    "FunctionError",
    "check_size",
    "json_size",
    "json_text",
    "limit_error",
    "number_text",
    "text_arg",
]

TOTAL_FACTOR = 8  # one string's functions may return this many times string_bytes in all
_CALL_COST = 64  # what a call costs the budget besides its result: bounds empty calls too


class FunctionError(ValueError):
    """A function was called wrongly; the message says how to call it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def limit_error(what: str, size: int | float, limit: int) -> FunctionError:
    """The error for ``what`` of ``size`` characters, over ``string_bytes`` (``limit``)."""
    shown = "far more" if math.isinf(size) else f"{int(size)}"
    return FunctionError(f"{what} would be {shown} characters, over the limit string_bytes "
                         f"({limit})", hint=limit_hint("string_bytes"))


def check_size(size: int | float, policy: Policy, what: str = "the result") -> None:
    """Refuse a result of ``size`` characters over ``string_bytes``, before building it."""
    limit = policy.limits.string_bytes
    if size > limit:
        raise limit_error(what, size, limit)


@record(frozen=False)
class Budget:
    """What one YAML string's functions may cost together, and what they share.

    Calls inside a list (``[file("a"), file("a"), ...]``) or inside nested
    templates each stay under ``string_bytes`` but could add up without
    bound; the budget caps the sum. It also holds the templates being
    expanded (to refuse a template including itself) and the files read.
    """

    policy: Policy
    spent: int = 0
    templates: list[Path] = field(default_factory=list)
    files: dict[Path, bytes] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """The most characters this string's functions may return in all."""
        return TOTAL_FACTOR * self.policy.limits.string_bytes

    def charge(self, size: int) -> None:
        """Count a result of ``size`` characters (plus the call itself)."""
        self.spent += size + _CALL_COST
        if self.spent > self.total:
            raise FunctionError(
                f"the functions of this one value return more than {self.total} characters "
                f"in all ({TOTAL_FACTOR} times the limit string_bytes)",
                hint=limit_hint("string_bytes"))


@record
class Args:
    """One call's arguments and what the function may use besides them.

    ``raw`` keeps secrets wrapped and is only for messages (through
    ``shown``); ``plain`` is what functions compute with.
    """

    raw: tuple[Any, ...]
    base: Path
    root: Path
    budget: Budget

    @cached_property
    def plain(self) -> list[Any]:
        """The arguments with secrets revealed: compute with these, never print them."""
        return [reveal(a) for a in self.raw]

    @property
    def policy(self) -> Policy:
        """The operator's policy: readable roots and limits."""
        return self.budget.policy

    def shown(self, index: int) -> str:
        """Argument ``index`` for a message: YAML spelling, ``(sensitive)`` for a secret."""
        return spell(self.raw[index])

    def arity(self, low: int, high: int, usage: str) -> None:
        """Refuse a call with the wrong number of arguments."""
        if not low <= len(self.raw) <= high:
            raise FunctionError(f"takes {usage}, got {len(self.raw)} argument(s)")


def text_arg(value: Any, what: str) -> str:
    """Argument ``what`` as text: a string, or a number's digits; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FunctionError(f"expects {what} to be a string, got {kind(value)}")
    return number_text(value) if isinstance(value, int) else str(value)


def number_text(value: int) -> str:
    """Digits of an integer; one too long for ``str`` (4300 digits) is an error, not a crash."""
    if value.bit_length() > 10_000:
        raise FunctionError(f"cannot print {spell(value)}")
    return str(value)


def json_text(value: Any, policy: Policy) -> str:
    """Compact JSON with sorted keys, sized before it is built."""
    check_size(json_size(value, policy.limits.string_bytes + 1), policy)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise FunctionError("cannot encode this value as JSON (.inf, .nan or an integer "
                            "too long to print)") from None
    except TypeError:
        raise FunctionError("cannot encode this value as JSON (map keys must all be "
                            "strings)") from None


def json_size(value: Any, most: int) -> int:
    """Characters of ``value`` as compact JSON, counting no further than ``most``.

    Iterative, and each distinct string is measured once, so a list holding
    the same 4 MiB string a million times costs one measurement and stops early.
    """
    encode = json.encoder.encode_basestring_ascii
    measured: dict[int, int] = {}
    total, todo = 0, [value]
    while todo and total < most:
        item = todo.pop()
        if isinstance(item, str):
            if id(item) not in measured:
                measured[id(item)] = len(encode(item)) if len(item) < most else len(item)
            total += measured[id(item)] + 1
        elif isinstance(item, Mapping):
            total += 2 + len(item)
            for key, child in item.items():
                todo.append(child)
                todo.append(str(key))
        elif isinstance(item, list | tuple):
            total += 2 + len(item)
            todo.extend(item)
        else:
            total += _scalar_size(item)
    return total


def _scalar_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3 + 2
    return 24  # a float, boolean or null
