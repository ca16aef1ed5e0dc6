"""The coordination interface every fleet backend implements, and its records.

No I/O here. A ``Coordinator`` is the one thing fleet nodes share: a proven
store (etcd, DynamoDB, PostgreSQL; an in-memory one for the simulation)
that gives

- **leases**: a node's liveness; granted with a TTL, kept alive by the node,
  gone when the node stops renewing;
- **membership**: one key per node bound to its lease (name, tags, revision);
- **slots**: at most ``record.slots`` per rollout, each bound to the holder's
  lease and carrying a **fencing token** that grows with every grant of that
  slot, so a node that lost its slot cannot report under it;
- **reports**: each node's phase on a rollout (applying, healthy, failed,
  rolled back), kept after the node dies so counts stay honest;
- **halts**: one record per halted rollout, cleared by ``driftless fleet resume``;
- **history**: every slot grant and end, in the store's own order, for audits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any, Protocol, runtime_checkable

from driftless.errors import DriftlessError
from driftless.records import record

__all__ = [
    "PHASES",
    "Coordinator",
    "CoordinatorError",
    "Halt",
    "Lease",
    "LeaseLost",
    "Member",
    "Report",
    "RolloutRecord",
    "Slot",
    "SlotEvent",
    "SlotLost",
    "record_from_json",
    "record_to_json",
]

PHASES = ("applying", "healthy", "failed", "rolled_back")


class CoordinatorError(DriftlessError):
    """The coordination store refused a request or is unreachable."""


class LeaseLost(CoordinatorError):
    """The node's lease expired or was revoked: its membership and slots are gone."""


class SlotLost(CoordinatorError):
    """The slot is no longer held under this fencing token."""


@record
class Lease:
    """A node's liveness in the store; ``id`` is the store's own lease id."""

    id: str
    node: str
    ttl: float


@record
class Member:
    """One live node as the store sees it."""

    node: str
    tags: Mapping[str, str] = field(default_factory=dict)
    revision: str = ""
    address: str = ""


@record
class RolloutRecord:
    """A rollout of one revision, fixed by the first node that opened it.

    ``slots`` and ``canary`` are decided once (from the membership at that
    time), so every node enforces the same limit even while nodes come and go.
    """

    rollout: str
    slots: int
    canary: tuple[str, ...] = ()
    failure_threshold: int = 1
    health_timeout: float = 60.0


@record
class Slot:
    """A held slot; ``token`` is its fencing token (strictly growing per slot index)."""

    rollout: str
    index: int
    node: str
    token: int
    lease_id: str = ""


@record
class Report:
    """A node's phase on a rollout (one of ``PHASES``) and why."""

    node: str
    phase: str
    message: str = ""
    token: int = 0


@record
class Halt:
    """Why a rollout stopped for every node, and who stopped it."""

    rollout: str
    reason: str
    by: str


@record
class SlotEvent:
    """One grant (``acquire``) or end (``release``/``expire``/``end``) of a slot.

    ``seq`` orders events as the store does (etcd revision, PostgreSQL
    sequence, DynamoDB: the writer's clock in ns); ``at`` is seconds since the
    epoch when the store knows it.
    """

    seq: int
    kind: str
    index: int
    node: str
    token: int
    at: float | None = None


@runtime_checkable
class Coordinator(Protocol):
    """What fleet nodes share; every method is one short round trip or a few."""

    name: str

    def grant(self, node: str, *, ttl: float) -> Lease:
        """A new lease for ``node``; everything bound to it dies with it."""

    def keepalive(self, lease: Lease) -> None:
        """Renew the lease; ``LeaseLost`` when it already ran out."""

    def revoke(self, lease: Lease) -> None:
        """End the lease now (a clean shutdown): membership and slots go with it."""

    def join(self, lease: Lease, member: Member) -> None:
        """Write (or update) the node's membership key, bound to its lease."""

    def members(self) -> list[Member]:
        """The live members, sorted by node name."""

    def open_rollout(self, record: RolloutRecord) -> RolloutRecord:
        """Create the rollout record unless it exists; the stored one either way."""

    def rollout(self, rollout: str) -> RolloutRecord | None:
        """The stored rollout record, if any."""

    def rollouts(self) -> list[RolloutRecord]:
        """Every stored rollout record."""

    def acquire(self, rollout: str, lease: Lease) -> Slot | None:
        """Take a free slot for the lease's node, or ``None`` when all are held.

        A node that already holds a live slot of this rollout gets it back.
        """

    def release(self, slot: Slot) -> None:
        """Give the slot back, only if it is still held under ``slot.token``."""

    def slots(self, rollout: str) -> list[Slot]:
        """The live (unexpired) slots of a rollout, by index."""

    def report(self, rollout: str, report: Report, *, slot: Slot | None = None) -> None:
        """Record a node's phase; with ``slot``, only while that slot is still held
        under its token (``SlotLost`` otherwise)."""

    def reports(self, rollout: str) -> Mapping[str, Report]:
        """Every node's last report on the rollout."""

    def halt(self, halt: Halt) -> Halt:
        """Halt the rollout unless it is halted already; the stored halt either way."""

    def halted(self, rollout: str) -> Halt | None:
        """The rollout's halt record, if any."""

    def resume(self, rollout: str) -> bool:
        """Clear the halt and the failed reports (they retry); whether it was halted."""

    def history(self, rollout: str) -> list[SlotEvent]:
        """Every slot grant and end of the rollout, in the store's order."""

    def close(self) -> None:
        """Close connections; leases are left to expire or be revoked by their owner."""


def record_to_json(record: RolloutRecord) -> dict[str, Any]:
    """A rollout record as the JSON the backends store."""
    return {"rollout": record.rollout, "slots": record.slots, "canary": list(record.canary),
            "failure_threshold": record.failure_threshold,
            "health_timeout": record.health_timeout}


def record_from_json(value: Mapping[str, Any]) -> RolloutRecord:
    """The rollout record a backend stored with ``record_to_json``."""
    return RolloutRecord(str(value["rollout"]), int(value["slots"]),
                         tuple(value.get("canary", ())), int(value.get("failure_threshold", 1)),
                         float(value.get("health_timeout", 60.0)))
