"""An in-process coordinator on an injectable clock: the simulation's store.

No I/O. It keeps the semantics the real backends give (leases that expire
on the clock, numbered slots bound to a lease, growing fencing tokens,
fenced reports, create-if-absent rollout and halt records, a slot history),
so the discrete-event simulation runs the same scheduling code as real
agents, and the conformance suite checks it like any other backend.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from driftless.fleet.base import (
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
from driftless.records import record

__all__ = ["MemoryCoordinator"]


@record(frozen=False)
class _Lease:
    node: str
    ttl: float
    expires: float


class MemoryCoordinator:
    """Everything in dicts; time comes from ``clock`` (seconds)."""

    name = "memory"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._mutex = threading.Lock()
        self._ids = itertools.count(1)
        self._tokens = itertools.count(1)
        self._seq = itertools.count(1)
        self._leases: dict[str, _Lease] = {}
        self._members: dict[str, tuple[str, Member]] = {}
        self._rollouts: dict[str, RolloutRecord] = {}
        self._slots: dict[tuple[str, int], Slot] = {}
        self._reports: dict[str, dict[str, Report]] = {}
        self._halts: dict[str, Halt] = {}
        self._history: dict[str, list[SlotEvent]] = {}
        # A lower bound on the next expiry: most calls then skip the scan of every lease.
        self._soonest = float("inf")

    # leases ---------------------------------------------------------------

    def _live(self, lease_id: str) -> bool:
        held = self._leases.get(lease_id)
        return held is not None and held.expires > self._clock()

    def _expire(self) -> None:
        """Drop what dead leases held, recording each slot's end at the lease's expiry."""
        now = self._clock()
        if now < self._soonest:
            return
        dead = {i: lz for i, lz in self._leases.items() if lz.expires <= now}
        self._soonest = min((lz.expires for i, lz in self._leases.items() if i not in dead),
                            default=float("inf"))
        if not dead:
            return
        for key, slot in list(self._slots.items()):
            if slot.lease_id in dead:
                del self._slots[key]
                self._event(slot, "expire", dead[slot.lease_id].expires)
        for node, (lease_id, _) in list(self._members.items()):
            if lease_id in dead:
                del self._members[node]
        for lease_id in dead:
            del self._leases[lease_id]

    def grant(self, node: str, *, ttl: float) -> Lease:
        with self._mutex:
            lease_id = str(next(self._ids))
            self._leases[lease_id] = _Lease(node, ttl, self._clock() + ttl)
            self._soonest = min(self._soonest, self._clock() + ttl)
            return Lease(lease_id, node, ttl)

    def keepalive(self, lease: Lease) -> None:
        with self._mutex:
            self._expire()
            held = self._leases.get(lease.id)
            if held is None:
                raise LeaseLost(f"lease of node '{lease.node}' expired")
            held.expires = self._clock() + held.ttl

    def revoke(self, lease: Lease) -> None:
        with self._mutex:
            held = self._leases.get(lease.id)
            if held is not None:
                held.expires = self._soonest = self._clock()
            self._expire()

    # membership -----------------------------------------------------------

    def join(self, lease: Lease, member: Member) -> None:
        with self._mutex:
            self._expire()
            if lease.id not in self._leases:
                raise LeaseLost(f"lease of node '{lease.node}' expired")
            self._members[member.node] = (lease.id, member)

    def members(self) -> list[Member]:
        with self._mutex:
            self._expire()
            return [m for _, (_, m) in sorted(self._members.items())]

    # rollouts -------------------------------------------------------------

    def open_rollout(self, record: RolloutRecord) -> RolloutRecord:
        with self._mutex:
            return self._rollouts.setdefault(record.rollout, record)

    def rollout(self, rollout: str) -> RolloutRecord | None:
        return self._rollouts.get(rollout)

    def rollouts(self) -> list[RolloutRecord]:
        return list(self._rollouts.values())

    # slots ----------------------------------------------------------------

    def _event(self, slot: Slot, kind: str, at: float) -> None:
        self._history.setdefault(slot.rollout, []).append(
            SlotEvent(next(self._seq), kind, slot.index, slot.node, slot.token, at))

    def acquire(self, rollout: str, lease: Lease) -> Slot | None:
        with self._mutex:
            self._expire()
            if lease.id not in self._leases:
                raise LeaseLost(f"lease of node '{lease.node}' expired")
            record = self._rollouts[rollout]
            mine = [s for (r, _), s in self._slots.items()
                    if r == rollout and s.lease_id == lease.id]
            if mine:
                return mine[0]
            for index in range(record.slots):
                if (rollout, index) not in self._slots:
                    slot = Slot(rollout, index, lease.node, next(self._tokens), lease.id)
                    self._slots[(rollout, index)] = slot
                    self._event(slot, "acquire", self._clock())
                    return slot
            return None

    def release(self, slot: Slot) -> None:
        with self._mutex:
            self._expire()
            held = self._slots.get((slot.rollout, slot.index))
            if held is not None and held.token == slot.token:
                del self._slots[(slot.rollout, slot.index)]
                self._event(held, "release", self._clock())

    def slots(self, rollout: str) -> list[Slot]:
        with self._mutex:
            self._expire()
            return sorted((s for (r, _), s in self._slots.items() if r == rollout),
                          key=lambda s: s.index)

    # reports, halts, history ------------------------------------------------

    def report(self, rollout: str, report: Report, *, slot: Slot | None = None) -> None:
        with self._mutex:
            self._expire()
            if slot is not None:
                held = self._slots.get((slot.rollout, slot.index))
                if held is None or held.token != slot.token:
                    raise SlotLost(f"slot {slot.index} of rollout {rollout[:12]} is no longer "
                                   f"held by '{slot.node}' (token {slot.token})")
            self._reports.setdefault(rollout, {})[report.node] = report

    def reports(self, rollout: str) -> Mapping[str, Report]:
        # a read-only view, not a copy: the 1,000-node simulation asks on every poll
        return MappingProxyType(self._reports.setdefault(rollout, {}))

    def halt(self, halt: Halt) -> Halt:
        with self._mutex:
            return self._halts.setdefault(halt.rollout, halt)

    def halted(self, rollout: str) -> Halt | None:
        return self._halts.get(rollout)

    def resume(self, rollout: str) -> bool:
        with self._mutex:
            was = self._halts.pop(rollout, None) is not None
            reports = self._reports.get(rollout, {})
            for node in [n for n, r in reports.items() if r.phase in ("failed", "rolled_back")]:
                del reports[node]
            return was

    def history(self, rollout: str) -> list[SlotEvent]:
        with self._mutex:
            self._expire()
            return list(self._history.get(rollout, []))

    def close(self) -> None:
        return None
