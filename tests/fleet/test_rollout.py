"""The rollout rules and one node's side of a rollout, on the in-memory store."""

from __future__ import annotations

import pytest

from driftless.errors import ConfigError
from driftless.fleet import FleetNode, Go, Member, RolloutPolicy, Wait
from driftless.fleet.base import Halt, Report, Slot
from driftless.fleet.memory import MemoryCoordinator
from driftless.fleet.rollout import amount, halt_reason, may_start, tally


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("value", "total", "want"), [
    (3, 50, 3), ("3", 50, 3), ("10%", 50, 5), ("10%", 9, 1), ("0%", 9, 1), ("100%", 7, 7)])
def test_amount_counts_and_percentages(value: int | str, total: int, want: int) -> None:
    assert amount(value, total, what="max_unavailable", minimum=1) == want


@pytest.mark.parametrize("bad", ["ten", "-1", "120%", "5%%"])
def test_amount_names_a_bad_value(bad: str) -> None:
    with pytest.raises(ConfigError, match="max_unavailable"):
        amount(bad, 10, what="max_unavailable")


def test_record_fixes_slots_canary_and_threshold_from_membership() -> None:
    policy = RolloutPolicy(max_unavailable="10%", canary=2, failure_threshold="5%")
    record = policy.record("r1", [f"n{i:02d}" for i in range(40, 0, -1)])
    assert (record.slots, record.canary, record.failure_threshold) == (4, ("n01", "n02"), 2)


def test_non_canary_waits_for_every_canary_healthy() -> None:
    record = RolloutPolicy(canary=2).record("r", ["a", "b", "c"])
    live = {"a", "b", "c"}
    assert may_start(record, "a", {}, None, live) is None
    assert may_start(record, "c", {"a": Report("a", "healthy")}, None, live) == \
        "waiting for the canary group"
    both = {"a": Report("a", "healthy"), "b": Report("b", "healthy")}
    assert may_start(record, "c", both, None, live) is None
    # a canary that died before it started does not block the rest
    assert may_start(record, "c", {"a": Report("a", "healthy")}, None, {"a", "c"}) is None


def test_halt_on_any_canary_failure_or_dead_canary_mid_apply() -> None:
    record = RolloutPolicy(canary=1, failure_threshold=3).record("r", ["a", "b", "c", "d"])
    assert halt_reason(record, {"a": Report("a", "failed")}, {"a"}) == "canary a failed"
    assert halt_reason(record, {"a": Report("a", "applying")}, {"b"}) == "canary a failed"
    two = {"b": Report("b", "failed"), "c": Report("c", "rolled_back")}
    assert halt_reason(record, two, {"a", "b", "c"}) is None
    three = {**two, "d": Report("d", "failed")}
    assert "3 nodes failed (threshold 3)" in str(halt_reason(record, three, set()))
    assert "resume" in str(may_start(record, "b", {}, Halt("r", "x", "a"), set()))


def test_tally_counts_phases_and_lost_nodes() -> None:
    reports = {"a": Report("a", "healthy"), "b": Report("b", "applying"),
               "c": Report("c", "applying"), "d": Report("d", "failed")}
    counts = tally(reports, [Slot("r", 0, "b", 1)], {"a", "b", "e", "f"}, halted=False)
    assert counts == {"pending": 2, "in_progress": 1, "healthy": 1, "failed": 1, "halted": 0,
                      "lost": 1}


def _fleet(n: int, policy: RolloutPolicy) -> tuple[Clock, MemoryCoordinator, list[FleetNode]]:
    clock = Clock()
    coord = MemoryCoordinator(clock=clock)
    nodes = [FleetNode(coord, Member(f"n{i}"), policy, ttl=10) for i in range(n)]
    for node in nodes:
        node.start()
    return clock, coord, nodes


def test_canary_then_slots_then_done() -> None:
    _, _coord, nodes = _fleet(5, RolloutPolicy(max_unavailable=2, canary=1))
    first = nodes[0].gate("r")
    assert isinstance(first, Go)
    assert nodes[1].gate("r") == Wait("waiting for the canary group")
    nodes[0].passed(first.slot)
    assert nodes[0].gate("r") == Wait("already healthy on this revision", done=True)
    a, b = nodes[1].gate("r"), nodes[2].gate("r")
    assert isinstance(a, Go) and isinstance(b, Go)
    assert nodes[3].gate("r") == Wait("all 2 slots are held")
    nodes[1].passed(a.slot)
    assert isinstance(nodes[3].gate("r"), Go)


def test_failed_canary_halts_everyone_until_resume() -> None:
    _, coord, nodes = _fleet(4, RolloutPolicy(max_unavailable=2, canary=1))
    go = nodes[0].gate("r")
    assert isinstance(go, Go)
    halt = nodes[0].failed(go.slot, "health timed out")
    assert halt is not None and halt.reason == "canary n0 failed"
    nodes[0].rolled_back(go.slot, "old")
    step = nodes[2].gate("r")
    assert isinstance(step, Wait) and step.reason.startswith("rollout halted")
    assert coord.resume("r")
    assert isinstance(nodes[0].gate("r"), Go)


def test_a_dead_holder_loses_its_slot_at_lease_expiry() -> None:
    clock, _coord, nodes = _fleet(3, RolloutPolicy(max_unavailable=1, canary=0))
    go = nodes[0].gate("r")
    assert isinstance(go, Go)
    assert nodes[1].gate("r") == Wait("all 1 slots are held")
    clock.now += 11
    nodes[1].heartbeat()  # node 1 was also silent: it joins again with a new lease
    assert isinstance(nodes[1].gate("r"), Go)
