"""What one reconcile of one stack works on: its collaborators and its findings.

Pure data plus small helpers, no I/O of its own. ``AgentRuntime`` holds the
long-lived collaborators (store, sources, configuration, metrics); a fresh
``ReconcileContext`` is made for every run of every stack and filled in by
the steps in ``agent.steps``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import field
from typing import Any

from driftless.agent.config import AgentConfig, StackSettings
from driftless.agent.metrics import AgentMetrics
from driftless.agent.sources import SourceCache
from driftless.agent.store import AgentStore, StackStatus
from driftless.model import ApplyResult, Condition, Health, Plan, ResourceId
from driftless.records import record
from driftless.source import Source

__all__ = ["TRIGGERS", "AgentRuntime", "ReconcileContext"]

TRIGGERS = ("poll", "webhook", "drift", "manual", "rollback")


@record(frozen=False)
class AgentRuntime:
    """Long-lived collaborators shared by every run."""

    config: AgentConfig
    store: AgentStore
    sources: SourceCache
    metrics: AgentMetrics
    stopping: Callable[[], bool] = lambda: False
    fleet: Any = None  # agent.fleet.FleetHook when DRIFTLESS_FLEET names a fleet store


@record(frozen=False)
class ReconcileContext:
    """One run of one stack; each step reads what earlier steps set.

    ``done`` ends the walk early without an error (nothing to do, suspended,
    a stalled revision that has not changed); ``outcome`` says why.
    """

    stack: str
    source_name: str
    trigger: str
    cycle: int
    rt: AgentRuntime
    status: StackStatus
    started: float = field(default_factory=time.time)
    source: Source | None = None
    project: Any = None
    desired: Any = None
    settings: StackSettings = field(default_factory=StackSettings)
    providers: Any = None
    backend: Any = None
    engine: Any = None
    plan: Plan | None = None
    orphans: frozenset[ResourceId] = frozenset()
    drift: list[str] = field(default_factory=list)
    results: list[ApplyResult] = field(default_factory=list)
    snapshot: Any = None
    health: Health | None = None
    healths: dict[ResourceId, Health] = field(default_factory=dict)
    by_health: dict[str, int] = field(default_factory=dict)
    applied: bool = False
    skip_apply: bool = False
    notes: list[str] = field(default_factory=list)
    reason: str = ""
    mark_bad: str | None = None
    error: BaseException | None = None
    condition: Condition | None = None
    delay: float = 0.0
    done: bool = False
    outcome: str = ""
    exits: ExitStack = field(default_factory=ExitStack)
    actor: str = "agent"  # who asked: the agent, or the user of a manual run or rollback

    @property
    def revision(self) -> str | None:
        """The revision this run works on, once fetched."""
        return self.source.revision if self.source is not None else None

    def failed(self) -> list[ApplyResult]:
        """Resources whose change failed in this run."""
        return [r for r in self.results if r.outcome.value == "failed"]

    def finish(self, outcome: str) -> None:
        """End the walk early with ``outcome`` (not an error)."""
        self.done, self.outcome = True, outcome
