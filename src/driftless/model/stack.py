"""A rendered stack: the renderer's hand-over to the planner."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from driftless.model.resource import Resource
from driftless.records import record

__all__ = ["DesiredStack"]


@record
class DesiredStack:
    """Everything the planner needs about one stack at one revision.

    ``digest`` is a sha256 over the canonical render (secrets included only
    as digests), byte-identical for identical inputs. A render leaves it to be
    worked out on first use (``digest_of`` is then a function): the render
    cache has a forked child work it out meanwhile, on the other core, while
    the command takes its lock and reads state. ``outputs`` values may
    be ``Deferred``. ``settings`` are per-stack agent options (prune,
    self_heal, ...), passed through untouched. ``validated`` says the render
    checked every resource's properties against its kind's schema (render was
    given the kinds), so the planner does not check them again.
    """

    name: str
    resources: tuple[Resource, ...]
    digest_of: str | Callable[[], str] = field(compare=False, repr=False)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    revision: str | None = None
    depends_on: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    validated: bool = field(default=False, compare=False)

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical render (worked out now if it was left to later)."""
        found = self.digest_of
        if isinstance(found, str):
            return found
        text = found()
        object.__setattr__(self, "digest_of", text)  # a value, kept once known
        return text
