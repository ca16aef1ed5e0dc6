"""The state backend protocol and the journal that makes applies crash-safe.

Every backend (SQLite by default; S3, PostgreSQL) implements ``StateBackend``
and passes ``driftless.state.testing.check_backend``. Writes carry the serial
they were based on; a backend refuses a write whose base is stale or whose
lineage differs. Locks are leases: they expire unless renewed.

The journal is a write-ahead log of side effects: ``begin`` is durable before
a provider touches the world, ``finish`` records what came out. Applied
results are folded into the snapshot at the end of an apply (and by the
next run after a crash); a ``begin`` with no ``finish`` is an interrupted
side effect that the engine must look for and adopt or report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from driftless.errors import StateError
from driftless.model import LockInfo, StateSnapshot
from driftless.records import record

__all__ = ["Journal", "JournalEntry", "KeepsHistory", "SnapshotInfo", "StateBackend", "no_history"]


@record
class SnapshotInfo:
    """One kept snapshot of a stack (SQLite keeps the last N, S3 lists its object
    versions): which serial, when it was written, how many resources it holds and
    who wrote it (``who: operation``)."""

    stack: str
    serial: int
    at: float
    resources: int
    writer: str

    def to_json(self) -> dict[str, Any]:
        """The form ``driftless state history --json`` prints."""
        return {"stack": self.stack, "serial": self.serial, "at": self.at,
                "resources": self.resources, "writer": self.writer}


@record
class JournalEntry:
    """One side effect: its intent and, once done, its outcome.

    ``live`` is the resulting ``ResourceState`` JSON (None after a delete or
    when unfinished); ``finished`` says whether the outcome was recorded;
    ``ok`` whether the side effect succeeded.
    """

    seq: int
    address: str
    action: str
    intent: Mapping[str, Any]
    finished: bool = False
    ok: bool = False
    live: Mapping[str, Any] | None = None


class Journal(Protocol):
    """Write-ahead log of one stack's side effects."""

    def begin(self, address: str, action: str, intent: Mapping[str, Any]) -> int:
        """Record an intent durably; returns its sequence number."""

    def finish(self, seq: int, *, ok: bool, live: Mapping[str, Any] | None) -> None:
        """Record the outcome of intent ``seq`` durably."""

    def entries(self) -> list[JournalEntry]:
        """Every entry not yet folded into the snapshot, in order."""

    def clear(self, upto: int) -> None:
        """Drop entries with seq <= upto (they are in the snapshot now)."""


class StateBackend(Protocol):
    """Per-stack snapshots, leased locks and a journal."""

    def read(self, stack: str) -> StateSnapshot:
        """The current snapshot; an empty one (serial 0) for a new stack."""

    def write(self, stack: str, snap: StateSnapshot) -> None:
        """Store ``snap``; refuses unless ``snap.serial`` is stored serial + 1
        and the lineage matches (``StateConflict``)."""

    def stacks(self) -> list[str]:
        """Names of every stack with state."""

    def lock(self, stack: str, info: LockInfo) -> str:
        """Take the lock or raise ``LockHeld``; an expired lease may be taken."""

    def renew(self, stack: str, lock_id: str) -> None:
        """Push the lease forward; ``StateError`` if the lock is no longer ours."""

    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None:
        """Release; ``force`` releases whoever holds it."""

    def lock_info(self, stack: str) -> LockInfo | None:
        """The current holder, if any (expired or not)."""

    def journal(self, stack: str) -> Journal:
        """The stack's journal."""

    def close(self) -> None:
        """Release connections."""


def no_history(backend: object) -> StateError:
    """What ``state history``/``restore`` say on a backend that keeps no snapshots."""
    name = type(backend).__name__.removesuffix("Backend").lower() or "this"
    return StateError(
        f"the {name} state backend keeps no snapshots: state history and state restore "
        "work with the sqlite, s3 and postgres backends",
        hint="keep copies with driftless state pull STACK > FILE, restore one with "
             "driftless state push STACK FILE; or use the database's own backups")


class KeepsHistory(Protocol):
    """A backend that keeps its stacks' last snapshots (SQLite, PostgreSQL, S3 versions):
    ``state history`` lists them and ``state restore`` writes one back as a new serial."""

    def history(self, stack: str) -> list[SnapshotInfo]:
        """The kept snapshots, newest first."""

    def snapshot(self, stack: str, serial: int) -> StateSnapshot:
        """The stack as it was at ``serial``; ``StateError`` if that one is not kept."""
