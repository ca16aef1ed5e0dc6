"""What the YAML loader's tests compare: values with their types and every location."""

from __future__ import annotations

from typing import Any

from driftless.render.yamlio import LocDict, LocList


def shape(value: Any) -> Any:
    """``value`` with the type of each leaf and every location its maps and lists carry,
    for an exact comparison of two loads."""
    if isinstance(value, LocDict):
        return ("M", value.loc, {k: shape(v) for k, v in value.items()},
                dict(value.locs), dict(value.key_locs))
    if isinstance(value, LocList):
        return ("L", value.loc, [shape(v) for v in value], list(value.locs))
    return (type(value).__name__, value)
