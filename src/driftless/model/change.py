"""Changes: what the planner decided for one resource, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum
from typing import Any

from driftless.model.ids import ResourceId
from driftless.model.resource import LiveResource, Resource
from driftless.model.values import mask
from driftless.records import record

__all__ = ["Action", "Change", "FieldDiff"]


class Action(StrEnum):
    """What apply will do to a resource."""

    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    READ = "read"

    @property
    def symbol(self) -> str:
        """The plan symbol users know from Terraform."""
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.NOOP: " ",
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.READ: "<=",
}


@record(slots=True)
class FieldDiff:
    """One changed field; secrets are compared but never shown."""

    path: str
    before: Any
    after: Any
    sensitive: bool = False
    forces_replace: bool = False

    def shown(self) -> tuple[Any, Any]:
        """(before, after) safe to print."""
        if self.sensitive:
            return ("(sensitive)", "(sensitive)")
        return (mask(self.before), mask(self.after))


@record(slots=True)
class Change:
    """The planned action for one resource.

    ``desired`` and ``prior`` travel with the change so ``Provider.apply``
    needs nothing else. ``refused`` marks a delete of a protected resource:
    it is shown in the plan and never applied. ``reason`` is one line.
    ``triggered_by`` names the changed resources that made an otherwise
    unchanged resource UPDATE (restart a service, re-run a command).

    ``unmanaged`` marks a resource not in state whose object exists already
    (state was lost, or ``state rm``): without ``adopt`` it is ``refused`` so
    apply never overwrites what it does not own. ``adopt`` takes it over:
    a READ records the object as it is (no side effect); an UPDATE or
    REPLACE takes it over and then changes it.
    """

    id: ResourceId
    action: Action
    desired: Resource | None = None
    prior: LiveResource | None = None
    diffs: tuple[FieldDiff, ...] = ()
    reason: str = ""
    refused: bool = False
    depends_on: tuple[ResourceId, ...] = field(default=())
    triggered_by: tuple[ResourceId, ...] = field(default=())
    unmanaged: bool = False
    adopt: bool = False

    @property
    def is_change(self) -> bool:
        """Whether apply has anything to do for it (an adoption writes state)."""
        if self.refused:
            return False
        return self.adopt or self.action not in (Action.NOOP, Action.READ)

    @property
    def alters(self) -> bool:
        """Whether apply changes the object itself (an adoption READ does not),
        so whether it fires ``triggered_by``."""
        return self.is_change and self.action is not Action.READ

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe, secret-free record (saved plans, ``--json``)."""
        return {
            "address": str(self.id),
            "action": self.action.value,
            "reason": self.reason,
            "refused": self.refused,
            "unmanaged": self.unmanaged,
            "adopt": self.adopt,
            "triggered_by": [str(t) for t in self.triggered_by],
            "diffs": [_diff_json(d) for d in self.diffs],
        }


def _diff_json(d: FieldDiff) -> Mapping[str, Any]:
    before, after = d.shown()
    return {
        "path": d.path,
        "before": before,
        "after": after,
        "sensitive": d.sensitive,
        "forces_replace": d.forces_replace,
    }
