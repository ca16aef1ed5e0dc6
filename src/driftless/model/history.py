"""Conditions and history entries, as the agent and ``status`` report them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from driftless.records import record

__all__ = ["Condition", "HistoryEntry"]


@record(slots=True)
class Condition:
    """``Ready`` / ``Reconciling`` / ``Stalled`` with a status and a reason."""

    type: str
    status: bool
    reason: str
    message: str = ""
    since: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON form for the status API."""
        return {
            "type": self.type, "status": self.status, "reason": self.reason,
            "message": self.message, "since": self.since,
        }


@record
class HistoryEntry:
    """One reconcile or apply of one stack, as recorded."""

    stack: str
    revision: str | None
    digest: str
    trigger: str
    started: float
    duration: float
    summary: Mapping[str, int] = field(default_factory=dict)
    results: tuple[Mapping[str, Any], ...] = ()
    reason: str = ""
    outcome: str = ""
    actor: str = ""
    changes: tuple[Mapping[str, Any], ...] = ()  # the plan's changes, masked

    def to_json(self) -> dict[str, Any]:
        """JSON form for storage and the API."""
        return {
            "stack": self.stack, "revision": self.revision, "digest": self.digest,
            "trigger": self.trigger, "started": self.started,
            "duration": self.duration, "summary": dict(self.summary),
            "results": [dict(r) for r in self.results], "reason": self.reason,
            "outcome": self.outcome, "actor": self.actor,
            "changes": [dict(c) for c in self.changes],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> HistoryEntry:
        """Inverse of ``to_json``."""
        return cls(
            doc["stack"], doc.get("revision"), doc.get("digest", ""),
            doc.get("trigger", ""), float(doc.get("started", 0.0)),
            float(doc.get("duration", 0.0)), dict(doc.get("summary", {})),
            tuple(doc.get("results", ())), doc.get("reason", ""),
            doc.get("outcome", ""), doc.get("actor", ""),
            tuple(doc.get("changes", ())),
        )
