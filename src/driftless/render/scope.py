"""What ``${...}`` is evaluated against, and how evaluation fails.

A ``Scope`` holds every name an expression can refer to (variables, other
resources, other stacks' outputs, ``count``/``each``, template values) and
the operator's ``Policy`` with the render's ``SecretCache`` (each external
secret reference is resolved once, however many copies of the scope
resources and instances make); ``ResInfo`` is a resource as references see it.
``EvalError`` carries an offset into the evaluated string. I/O: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from driftless.model import ResourceId
from driftless.model.policy import Policy
from driftless.records import record
from driftless.render.calls import Budget
from driftless.render.secret_refs import SecretCache

__all__ = ["RESERVED", "EvalError", "NotYet", "ResInfo", "Scope", "no_lookup"]


RESERVED = ("var", "each", "count", "stack")


class EvalError(ValueError):
    """An expression that cannot be evaluated; ``offset`` points into the string."""

    def __init__(self, message: str, offset: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.hint = hint


class NotYet(Exception):
    """A referenced resource's attribute is not known yet."""


@record
class ResInfo:
    """A resource as references see it: its ids by index (None when not repeated)."""

    ids: Mapping[int | str | None, ResourceId]
    mode: str = ""  # "", "count" or "for_each"


@record
class Scope:
    """Everything names in an expression can refer to."""

    variables: Mapping[str, Any]
    resources: Mapping[str, ResInfo] = field(default_factory=dict)
    stack_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    base_dir: Path = Path(".")
    root: Path = Path(".")
    count_index: int | None = None
    each: tuple[Any, Any] | None = None
    host: Mapping[str, Any] | None = None  # ${host.*}: the host a stack renders for
    node: Mapping[str, Any] | None = None  # ${node.*}: the fleet node an agent runs on
    locals_only: Mapping[str, Any] | None = None  # templatefile: bare names only
    allow_resources: bool = True
    policy: Policy = field(default_factory=Policy)  # the operator's: readable roots, limits
    budget: Budget | None = field(default=None, compare=False)  # set per evaluation
    # ${secret.*:...} values of this render, shared by every replace()d copy
    secrets: SecretCache = field(default_factory=SecretCache, compare=False)



def no_lookup(_rid: ResourceId) -> Mapping[str, Any] | None:
    return None
