"""Audits of a rollout from the store's slot history.

No I/O: works on the ``SlotEvent`` list a coordinator's ``history`` returns.
``concurrency`` replays grants and ends in the store's order and reports the
most slots ever held at once, so "``max_unavailable`` was respected at every
instant" is checked against what the store recorded, not against what the
agents believe.
"""

from __future__ import annotations

from collections.abc import Sequence

from driftless.fleet.base import SlotEvent
from driftless.records import record

__all__ = ["Audit", "concurrency"]


@record
class Audit:
    """What a replay of a rollout's slot history found."""

    grants: int
    ends: int
    peak: int
    still_held: tuple[int, ...]
    problems: tuple[str, ...]


def concurrency(events: Sequence[SlotEvent]) -> Audit:
    """Replay ``events`` in order: the peak of slots held at once, and any inconsistency
    (a slot granted twice without an end, an end without a grant, a slot's
    fencing tokens not growing)."""
    held: dict[int, int] = {}
    problems: list[str] = []
    peak = grants = ends = 0
    last_token: dict[int, int] = {}
    for ev in sorted(events, key=lambda e: (e.seq, e.kind != "acquire")):
        if ev.kind == "acquire":
            grants += 1
            if ev.index in held:
                problems.append(f"slot {ev.index} granted to {ev.node} while token "
                                f"{held[ev.index]} still held it")
            before = last_token.get(ev.index, 0)
            if ev.token <= before:
                problems.append(f"slot {ev.index}: token {ev.token} for {ev.node} does not "
                                f"grow (after {before})")
            last_token[ev.index] = ev.token
            held[ev.index] = ev.token
            peak = max(peak, len(held))
        else:
            ends += 1
            if held.get(ev.index) != ev.token:
                problems.append(f"slot {ev.index} ended under token {ev.token}, not held")
            held.pop(ev.index, None)
    return Audit(grants, ends, peak, tuple(sorted(held)), tuple(problems))
