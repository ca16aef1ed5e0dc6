"""The rollout rules, as pure functions over what the store holds.

No I/O. Real agents and the simulation both decide with these functions:

- ``RolloutPolicy.record`` fixes a rollout's slot count (``max_unavailable``,
  a count or a percentage of the members), its canary group and its failure
  threshold once, when the first node opens the rollout;
- ``may_start`` says whether a node may try for a slot now (not halted, not
  already done, and, outside the canary group, every canary healthy);
- ``halt_reason`` says whether the reports call for a halt (any canary
  failed, or failures reached the threshold);
- ``tally`` counts nodes per phase for ``driftless fleet status``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

from driftless.errors import ConfigError
from driftless.fleet.base import Halt, Report, RolloutRecord, Slot
from driftless.records import record

__all__ = ["RolloutPolicy", "amount", "halt_reason", "may_start", "tally"]

FAILED = ("failed", "rolled_back")


def amount(value: int | str, total: int, *, what: str, minimum: int = 0) -> int:
    """A count (``3``, ``"3"``) or a percentage of ``total`` (``"10%"``, rounded down).

    Never below ``minimum``; a malformed value is a ``ConfigError`` naming ``what``.
    """
    text = str(value).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            if not 0 <= pct <= 100:
                raise ValueError(text)
            return max(minimum, math.floor(total * pct / 100))
        count = int(text)
        if count < 0:
            raise ValueError(text)
        return max(minimum, count)
    except ValueError:
        raise ConfigError(f"fleet {what}: {value!r} is neither a count nor a percentage",
                          hint=f"write {what}: 2 or {what}: \"10%\"") from None


@record
class RolloutPolicy:
    """How a revision rolls out across the fleet (the operator's settings)."""

    max_unavailable: int | str = 1
    canary: int | str = 1
    failure_threshold: int | str = 1
    health_timeout: float = 60.0

    def record(self, rollout: str, members: Sequence[str]) -> RolloutRecord:
        """The rollout record for the current membership (``members``: node names).

        At least one slot and a threshold of at least one failure; the canary
        group is the first nodes by name, so every node computes the same one.
        """
        total = max(1, len(members))
        slots = amount(self.max_unavailable, total, what="max_unavailable", minimum=1)
        canaries = amount(self.canary, total, what="canary")
        threshold = amount(self.failure_threshold, total, what="failure_threshold", minimum=1)
        return RolloutRecord(rollout=rollout, slots=slots,
                             canary=tuple(sorted(members)[:canaries]),
                             failure_threshold=threshold, health_timeout=self.health_timeout)


def canary_done(record: RolloutRecord, reports: Mapping[str, Report],
                live: Collection[str]) -> bool:
    """Whether the canary group has passed: every canary healthy on the revision.

    A canary that died before it started is dropped from the group (a lost
    node never blocks the rest); one that died mid-apply counts as failed
    (see ``halt_reason``), so the rollout never passes on its silence.
    """
    for node in record.canary:
        phase = reports[node].phase if node in reports else None
        if phase == "healthy":
            continue
        if phase is None and node not in live:
            continue
        return False
    return True


def may_start(record: RolloutRecord, node: str, reports: Mapping[str, Report],
              halt: Halt | None, live: Collection[str]) -> str | None:
    """``None`` when ``node`` may try for a slot now, else why it waits."""
    if halt is not None:
        return f"rollout halted: {halt.reason} (driftless fleet resume)"
    mine = reports.get(node)
    if mine is not None and mine.phase == "healthy":
        return "already healthy on this revision"
    if mine is not None and mine.phase in FAILED:
        return "failed on this revision; waits for a resume or a newer revision"
    if node not in record.canary and not canary_done(record, reports, live):
        return "waiting for the canary group"
    return None


def failures(record: RolloutRecord, reports: Mapping[str, Report],
             live: Collection[str]) -> list[str]:
    """Failed nodes, plus canaries that died mid-apply."""
    failed = [n for n, r in reports.items() if r.phase in FAILED]
    failed += [n for n in record.canary
               if n in reports and reports[n].phase == "applying" and n not in live]
    return sorted(failed)


def halt_reason(record: RolloutRecord, reports: Mapping[str, Report],
                live: Collection[str]) -> str | None:
    """Why the rollout must halt, or ``None``: a canary failed, or failures hit the threshold."""
    failed = failures(record, reports, live)
    bad_canaries = [n for n in failed if n in record.canary]
    if bad_canaries:
        return f"canary {bad_canaries[0]} failed"
    if len(failed) >= record.failure_threshold:
        return (f"{len(failed)} nodes failed (threshold {record.failure_threshold}): "
                + ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else ""))
    return None


def tally(reports: Mapping[str, Report], slots: Sequence[Slot], live: Collection[str],
          halted: bool) -> dict[str, int]:
    """Nodes per phase: pending, in_progress, healthy, failed, halted (waiting on a halt).

    A node reported ``applying`` without a live slot died mid-apply: it counts as ``lost``.
    """
    holders = {s.node for s in slots}
    counts = {"pending": 0, "in_progress": 0, "healthy": 0, "failed": 0, "halted": 0,
              "lost": 0}
    for node, rep in reports.items():
        if rep.phase == "healthy":
            counts["healthy"] += 1
        elif rep.phase in FAILED:
            counts["failed"] += 1
        elif node in holders:
            counts["in_progress"] += 1
        else:
            counts["lost"] += 1
    waiting = len([n for n in live if n not in reports])
    counts["halted" if halted else "pending"] += waiting
    return counts
