"""A rendered stack: the renderer's hand-over to the planner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from driftless.model.resource import Resource
from driftless.records import record

__all__ = ["DesiredStack"]


@record
class DesiredStack:
    """Everything the planner needs about one stack at one revision.

    ``digest`` is a sha256 over the canonical render (secrets included only
    as digests), byte-identical for identical inputs. ``outputs`` values may
    be ``Deferred``. ``settings`` are per-stack agent options (prune,
    self_heal, ...), passed through untouched. ``validated`` says the render
    checked every resource's properties against its kind's schema (render was
    given the kinds), so the planner does not check them again.
    """

    name: str
    resources: tuple[Resource, ...]
    digest: str
    outputs: Mapping[str, Any] = field(default_factory=dict)
    revision: str | None = None
    depends_on: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    validated: bool = field(default=False, compare=False)
