"""The discrete-event simulation, small enough for make test (the bench runs 1,000 nodes)."""

from __future__ import annotations

from driftless.fleet.rollout import RolloutPolicy
from driftless.fleet.sim import SimConfig, run


def test_rollout_converges_within_the_bound_and_keeps_every_invariant() -> None:
    result = run(SimConfig(nodes=200, seed=1))  # seed 1: every canary passes
    assert result.violations == []
    assert result.converged_at is not None and result.converged_at <= result.bound
    assert result.peak_busy <= result.slots == 20
    assert result.audit_peak <= result.slots and result.audit_problems == ()
    assert result.slots_left == 0
    assert result.healthy + result.rolled_back + result.dead == 200
    assert result.halted is None


def test_failing_canary_halts_before_any_other_node_applies() -> None:
    result = run(SimConfig(nodes=200, seed=3, failing_canary=True))
    assert result.violations == []
    assert result.halted is not None and result.halted.startswith("canary")
    assert result.non_canary_applied == 0
    assert result.slots_left == 0


def test_failures_past_the_threshold_halt_and_free_every_slot() -> None:
    policy = RolloutPolicy(max_unavailable="10%", canary=0, failure_threshold=5,
                           health_timeout=60.0)
    result = run(SimConfig(nodes=200, seed=5, fail_rate=0.2, policy=policy))
    assert result.violations == []
    assert result.halted is not None and "threshold 5" in result.halted
    assert result.slots_left == 0
    assert result.healthy < 190
