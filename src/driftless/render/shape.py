"""Top-level shape checks of the user's files, before anything reads them. Pure.

Each file kind has a few keys whose type everything else relies on (a map of
resources, a list of names, ...). A key of the wrong type is reported with
its file:line:col and dropped, so later steps never trip over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftless.errors import Problem
from driftless.render.yamlio import LocDict, problem_at, where

__all__ = ["ENV_SHAPE", "OVERLAY_SHAPE", "STACK_SHAPE", "sanitize"]

STACK_SHAPE: Mapping[str, type] = {
    "variables": dict, "resources": dict, "outputs": dict, "settings": dict,
    "depends_on": list, "description": str, "secrets": list,
}
OVERLAY_SHAPE: Mapping[str, type] = {
    "variables": dict, "resources": dict, "outputs": dict, "settings": dict,
    "remove": list, "patches": list, "name_prefix": str, "name_suffix": str,
}
ENV_SHAPE: Mapping[str, type] = {"variables": dict, "providers": dict, "stacks": dict,
                                 "secrets": list}
_NAMES: dict[type, str] = {dict: "a map", list: "a list", str: "a string"}


def sanitize(doc: Any, shape: Mapping[str, type], problems: list[Problem]) -> Any:
    """``doc`` without keys of the wrong type (each one reported); null keys dropped too."""
    if not isinstance(doc, Mapping):
        return doc
    out = LocDict()
    if isinstance(doc, LocDict):
        out.loc, out.locs = doc.loc, dict(doc.locs)
        out.key_locs = dict(doc.key_locs)
    for key, value in doc.items():
        expected = shape.get(key)
        if value is None and expected is not None:
            continue
        if expected is not None and not isinstance(value, expected):
            problems.append(problem_at(f"'{key}' must be {_NAMES[expected]}", where(doc, key)))
            continue
        out[key] = value
    return out
