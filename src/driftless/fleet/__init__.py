"""Fleet mode: many agents, one shared coordination store, no control plane.

``base`` holds the ``Coordinator`` interface and its records; ``etcd``,
``dynamo``, ``postgres`` and ``memory`` implement it; ``rollout`` holds the
pure rollout rules and ``member`` one node's side of a rollout, shared by
real agents and the simulation (``sim``); ``audit`` replays a store's slot
history. Sits below the agent and above state/model: it never imports the
engine, render or the agent.
"""

from __future__ import annotations

from driftless.fleet.base import (
    Coordinator,
    CoordinatorError,
    Halt,
    Lease,
    LeaseLost,
    Member,
    Report,
    RolloutRecord,
    Slot,
    SlotEvent,
    SlotLost,
)
from driftless.fleet.member import FleetNode, Go, Wait
from driftless.fleet.rollout import RolloutPolicy
from driftless.fleet.url import open_coordinator

__all__ = [
    "Coordinator",
    "CoordinatorError",
    "FleetNode",
    "Go",
    "Halt",
    "Lease",
    "LeaseLost",
    "Member",
    "Report",
    "RolloutPolicy",
    "RolloutRecord",
    "Slot",
    "SlotEvent",
    "SlotLost",
    "Wait",
    "open_coordinator",
]
