"""Pure data, no I/O: ids, resources, changes, plans, results, health, state."""

from typing import TYPE_CHECKING, Any

from driftless.model.change import Action, Change, FieldDiff
from driftless.model.graph import Graph
from driftless.model.ids import ResourceId
from driftless.model.lock import LockInfo
from driftless.model.plan import Plan, SavedPlan
from driftless.model.resource import LiveResource, Resource, SourceLocation
from driftless.model.result import ApplyResult, Outcome
from driftless.model.stack import DesiredStack
from driftless.model.state import ResourceState, StateSnapshot
from driftless.model.values import (
    UNKNOWN,
    Deferred,
    Sensitive,
    Unknown,
    contains_sensitive,
    contains_unknown,
    deferred_refs,
    mask,
    resolve,
    reveal,
    sensitive_digest,
)

if TYPE_CHECKING:
    from driftless.model.health import Health, HealthCode
    from driftless.model.history import Condition, HistoryEntry

_LAZY = {"Health": "health", "HealthCode": "health", "Condition": "history",
         "HistoryEntry": "history"}
"""Names whose modules load on first use: a plan or apply records no health or
history, and the two modules' dataclasses cost ~2 ms of every start."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"driftless.model.{module}"), name)

__all__ = [
    "UNKNOWN",
    "Action",
    "ApplyResult",
    "Change",
    "Condition",
    "Deferred",
    "DesiredStack",
    "FieldDiff",
    "Graph",
    "Health",
    "HealthCode",
    "HistoryEntry",
    "LiveResource",
    "LockInfo",
    "Outcome",
    "Plan",
    "Resource",
    "ResourceId",
    "ResourceState",
    "SavedPlan",
    "Sensitive",
    "SourceLocation",
    "StateSnapshot",
    "Unknown",
    "contains_sensitive",
    "contains_unknown",
    "deferred_refs",
    "mask",
    "resolve",
    "reveal",
    "sensitive_digest",
]
