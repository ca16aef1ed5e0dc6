"""Per-resource apply results: failures are data, not exceptions."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from driftless.model.change import Action
from driftless.model.ids import ResourceId
from driftless.records import record

__all__ = ["ApplyResult", "Outcome"]


class Outcome(StrEnum):
    """How one resource's change ended."""

    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"


@record(slots=True)
class ApplyResult:
    """One resource's outcome with a message (the error, or why skipped)."""

    id: ResourceId
    action: Action
    outcome: Outcome
    message: str = ""
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``--json`` and history."""
        return {
            "address": str(self.id),
            "action": self.action.value,
            "outcome": self.outcome.value,
            "message": self.message,
            "duration": round(self.duration, 4),
        }
