"""The state of one stack render, shared by its steps, and value resolution.

A ``Job`` collects problems instead of raising, so one run reports every
mistake. ``resolve_value`` walks a YAML value and evaluates each string's
``${...}``, pointing problems at file:line:col. Pure apart from what the
evaluator's ``file``/``templatefile`` read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from driftless.errors import Problem, RenderError
from driftless.model import Deferred, Resource, Sensitive
from driftless.records import record
from driftless.render.evaluate import EvalError, ResInfo, Scope, binding_digest, resolve_string
from driftless.render.inputs import note_deferred
from driftless.render.options import KindLookup, RenderOptions
from driftless.render.overlay import Layered
from driftless.render.project import Project
from driftless.render.yamlio import Loc, Quoted, where

__all__ = ["Job", "KindLookup", "RenderOptions", "parse_type", "resolve_value"]

_AS_WRITTEN = frozenset({bool, int, float, type(None)})  # YAML scalars resolve to themselves
_TYPE = re.compile(r"^([a-z][a-z0-9_-]*):([A-Za-z][A-Za-z0-9_.]*)$")


@record(frozen=False)
class Job:
    """One stack render in progress."""

    project: Project
    name: str
    options: RenderOptions
    stack_outputs: Mapping[str, Mapping[str, Any]]
    kinds: KindLookup | None
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # reported, but rendering goes on
    layered: Layered = field(default_factory=lambda: Layered({}, {}, {}, {}))
    scope: Scope = field(default_factory=lambda: Scope(variables={}))
    resources: list[Resource] = field(default_factory=list)
    bindings: dict[int, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    table: dict[str, ResInfo] = field(default_factory=dict)
    doc: Mapping[str, Any] = field(default_factory=dict)  # stack.yaml, shape-checked

    def fail_if_problems(self) -> None:
        """Raise every problem found so far."""
        if self.problems:
            raise RenderError([*self.notes, *self.problems])

    def evaluate(self, text: str, scope: Scope, loc: Loc | None) -> Any:
        """One string's value; a problem is recorded (and None returned) on error."""
        try:
            value = resolve_string(text, scope)
        except EvalError as exc:
            quote = 1 if isinstance(text, Quoted) else 0  # the mark is at the opening quote
            self.problems.append(at_offset(str(exc), loc, exc.offset + quote, exc.hint))
            return None
        if isinstance(text, Quoted):
            value = as_text(value)
        if isinstance(value, Deferred):
            self.bindings[id(value)] = binding_digest(text, scope)
            note_deferred(value, scope, quoted=isinstance(text, Quoted))
        return value


def as_text(value: Any) -> Any:
    """A quoted single expression's value as a string (lists and maps stay as they are)."""
    if isinstance(value, Deferred):
        inner = value
        return Deferred(inner.text, inner.refs, lambda lookup: as_text(inner.evaluate(lookup)))
    if isinstance(value, Sensitive):
        return Sensitive(as_text(value.value), origins=value.origins)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def at_offset(message: str, loc: Loc | None, offset: int, hint: str | None = None) -> Problem:
    """A problem ``offset`` characters into the value written at ``loc``."""
    if loc is None:
        return Problem(message, hint=hint)
    return Problem(message, loc[0], loc[1], loc[2] + offset, hint=hint)


def resolve_value(job: Job, value: Any, scope: Scope, loc: Loc | None) -> Any:
    """A YAML value with every string's ``${...}`` evaluated (plain dicts and lists out)."""
    if isinstance(value, str):
        return job.evaluate(value, scope, loc) if "${" in value else value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if v.__class__ in _AS_WRITTEN or (isinstance(v, str) and "${" not in v):
                out[k] = v  # nothing to evaluate: its location is not even looked up
            else:
                out[k] = resolve_value(job, v, scope, where(value, k) or loc)
        return out
    if isinstance(value, list):
        return [resolve_value(job, v, scope, where(value, i) or loc) for i, v in enumerate(value)]
    return value


def parse_type(text: Any) -> tuple[str, str] | None:
    """``provider:kind`` split in two, or None when malformed."""
    m = _TYPE.match(text) if isinstance(text, str) else None
    return (m.group(1), m.group(2)) if m else None
