"""One node's side of a rollout: lease, membership, slot, reports.

I/O: only through the given ``Coordinator``. The real agent and the
simulation drive the same ``FleetNode``:

1. ``start`` grants the node's lease and writes its membership key;
   ``heartbeat`` keeps it alive (every third of the TTL) and rejoins with a
   fresh lease if the old one ran out;
2. ``gate(revision)`` before applying: opens the rollout if nobody has,
   checks the rules (``rollout.may_start``), takes a slot and reports
   ``applying`` under its fencing token; returns ``Go`` or ``Wait``;
3. ``passed`` after the health gate: reports ``healthy`` and releases;
   ``failed``: reports ``failed`` and halts the rollout when the rules say
   so; after the caller rolled back, ``rolled_back`` releases the slot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import field

from driftless.fleet.base import (
    Coordinator,
    Halt,
    Lease,
    LeaseLost,
    Member,
    Report,
    RolloutRecord,
    Slot,
)
from driftless.fleet.node import selects
from driftless.fleet.rollout import RolloutPolicy, canary_done, halt_reason, may_start
from driftless.records import record

__all__ = ["FleetNode", "Go", "Wait"]

log = logging.getLogger("driftless.fleet")


@record
class Go:
    """The node holds ``slot`` and may apply the revision now."""

    slot: Slot


@record
class Wait:
    """Not now; ``reason`` says why (halted, canary pending, slots full, done)."""

    reason: str
    done: bool = False


@record(frozen=False)
class FleetNode:
    """A node taking part in rollouts through ``coord``."""

    coord: Coordinator
    member: Member
    policy: RolloutPolicy = field(default_factory=RolloutPolicy)
    ttl: float = 10.0
    lease: Lease | None = None
    _canary_passed: set[str] = field(default_factory=set)

    @property
    def node(self) -> str:
        return self.member.node

    def start(self) -> Lease:
        """Grant a lease and join the membership (again with a fresh lease when a slow
        store let the first one run out in between; ``LeaseLost`` after three tries)."""
        for attempt in range(3):
            self.lease = self.coord.grant(self.node, ttl=self.ttl)
            try:
                self.coord.join(self.lease, self.member)
                return self.lease
            except LeaseLost:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def heartbeat(self) -> bool:
        """Renew the lease; a lost lease is replaced (slots it held are gone). Whether it held."""
        assert self.lease is not None, "start() first"
        try:
            self.coord.keepalive(self.lease)
            return True
        except LeaseLost:
            log.warning("node %s lost its lease; joining again", self.node)
            self.start()
            return False

    def announce(self, revision: str) -> None:
        """Update the membership key with the revision this node runs."""
        assert self.lease is not None, "start() first"
        self.member = Member(self.node, self.member.tags, revision, self.member.address)
        self.coord.join(self.lease, self.member)

    def _record(self, revision: str, selector: Mapping[str, str] | None) -> RolloutRecord:
        """The rollout's record, opened from the members ``selector`` picks if nobody has:
        slots, canaries and threshold count only the nodes the rollout concerns."""
        record = self.coord.rollout(revision)
        if record is None:
            names = [m.node for m in self.coord.members() if selects(selector, m.tags)]
            record = self.coord.open_rollout(self.policy.record(revision, names))
        return record

    def unchanged(self, revision: str, selector: Mapping[str, str] | None = None) -> None:
        """The revision changes nothing on this node: it is healthy on it without a slot."""
        self._record(revision, selector)
        mine = self.coord.reports(revision).get(self.node)
        if mine is None or mine.phase == "applying":  # applied under a slot it then lost
            self.coord.report(revision, Report(self.node, "healthy", "nothing to change"))

    def gate(self, revision: str, selector: Mapping[str, str] | None = None) -> Go | Wait:
        """Ask for a slot to apply ``revision`` (a rollout over the members ``selector``
        matches): ``Go`` with the slot, or ``Wait``."""
        assert self.lease is not None, "start() first"
        record = self._record(revision, selector)
        halt = self.coord.halted(revision)
        reports = self.coord.reports(revision)
        live = self._live(revision, record.canary, reports)
        why = may_start(record, self.node, reports, halt, live)
        if why is not None:
            done = why.startswith("already healthy")
            return Wait(why, done=done)
        slot = self.coord.acquire(revision, self.lease)
        if slot is None:
            return Wait(f"all {record.slots} slots are held")
        if self.coord.halted(revision) is not None:  # halted while we took the slot
            self.coord.release(slot)
            return Wait("rollout halted")
        self.coord.report(revision, Report(self.node, "applying", token=slot.token), slot=slot)
        return Go(slot)

    def _live(self, revision: str, canary: tuple[str, ...],
              reports: Mapping[str, Report]) -> set[str]:
        """Live members, read only while the canary group is undecided (it costs a listing)."""
        if revision in self._canary_passed or not canary:
            return set()
        live = {m.node for m in self.coord.members()}
        record = self.coord.rollout(revision)
        if record is not None and canary_done(record, reports, live):
            self._canary_passed.add(revision)
        return live

    def passed(self, slot: Slot, message: str = "") -> None:
        """The health gate passed: report healthy (fenced) and release the slot."""
        self.coord.report(slot.rollout, Report(self.node, "healthy", message, slot.token),
                          slot=slot)
        self.coord.release(slot)

    def failed(self, slot: Slot, message: str) -> Halt | None:
        """The health gate failed or timed out: report it and halt if the rules say so.

        The slot stays held until ``rolled_back``: the node is still unavailable.
        """
        rollout = slot.rollout
        self.coord.report(rollout, Report(self.node, "failed", message, slot.token), slot=slot)
        record = self.coord.rollout(rollout)
        assert record is not None
        live = {m.node for m in self.coord.members()}
        reason = halt_reason(record, self.coord.reports(rollout), live)
        if reason is None:
            return None
        halt = self.coord.halt(Halt(rollout, reason, by=self.node))
        log.warning("rollout %s halted: %s", rollout[:12], halt.reason)
        return halt

    def rolled_back(self, slot: Slot, revision: str) -> None:
        """The node is back on its last good revision: record it and release the slot."""
        self.coord.report(slot.rollout, Report(self.node, "rolled_back", f"back on {revision}",
                                               slot.token), slot=slot)
        self.coord.release(slot)
