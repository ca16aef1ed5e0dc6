"""Ten real agent processes in fleet mode against one real etcd.

Audited from the store, not from the agents' logs: etcd's own revision
history of the slot keys (``history``) replays every grant and every delete,
lease expiry included. The scenario, in one fleet:

1. the first revision rolls out: canary first, never more than 3 slots held;
2. a second revision: 3 random non-canary agents (slot holders first) are
   SIGKILLed mid-rollout; their slots go when their leases run out, and the
   other 7 converge;
3. a revision that fails on the canary halts the rollout before any other
   node applies; the canary returns to the last good revision.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import AgentFleet

from driftless.fleet.etcd import EtcdCoordinator

N = 10
TTL = 3.0


@pytest.fixture
def fleet(etcd_url: str, tmp_path: Path) -> Iterator[AgentFleet]:
    prefix = f"/agents-{uuid.uuid4().hex[:8]}"
    coord = EtcdCoordinator(etcd_url, prefix=prefix)
    env = {"DRIFTLESS_FLEET_MAX_UNAVAILABLE": "30%", "DRIFTLESS_FLEET_CANARY": "1",
           "DRIFTLESS_FLEET_FAILURE_THRESHOLD": "30%", "DRIFTLESS_FLEET_TTL": str(TTL),
           "DRIFTLESS_FLEET_POLL": "0.5", "DRIFTLESS_FLEET_HEALTH_TIMEOUT": "20"}
    agents = AgentFleet(tmp_path, f"etcd://{etcd_url.removeprefix('http://')}{prefix}", coord,
                        N, env)
    try:
        yield agents
    finally:
        agents.stop()
        coord.close()


def test_rollouts_respect_slots_survive_sigkill_and_halt_on_a_failing_canary(
        fleet: AgentFleet) -> None:
    first = fleet.commit("v1")
    fleet.start()
    fleet.wait_for("v1 everywhere", lambda: fleet.converged(first, "v1"), timeout=120)
    audit, slots = fleet.audit(first)
    assert slots == 3 and audit.grants >= N and not audit.problems, audit
    assert audit.peak <= slots, f"{audit.peak} slots held at once, limit {slots}"

    second = fleet.commit("v2", command="sleep 1")
    fleet.wait_for("a non-canary node holding a v2 slot",
                   lambda: any(s.node != "node-000" for s in fleet.coord.slots(second)),
                   timeout=60)
    for name in fleet.victims(second, 3, random.Random(15)):
        fleet.kill(name)
    fleet.wait_for("v2 on every living node", lambda: fleet.converged(second, "v2"),
                   timeout=120)
    fleet.wait_for("no slot left after lease expiry", lambda: not fleet.coord.slots(second),
                   timeout=TTL * 3)
    audit, slots = fleet.audit(second)
    assert not audit.problems and audit.still_held == (), audit
    assert audit.peak <= slots, f"{audit.peak} slots held at once, limit {slots}"

    third = fleet.commit("v3", command="exit 1")
    fleet.wait_for("the halt", lambda: fleet.coord.halted(third) is not None, timeout=60)
    record = fleet.coord.rollout(third)
    assert record is not None and record.canary == ("node-000",)
    canary = record.canary[0]
    fleet.wait_for("the canary back on v2",
                   lambda: fleet.coord.reports(third).get(canary) is not None
                   and fleet.coord.reports(third)[canary].phase == "rolled_back"
                   and fleet.release_of(canary) == "v2", timeout=60)
    assert set(fleet.coord.reports(third)) == {canary}, "a non-canary node took part"
    assert {fleet.release_of(n) for n in fleet.alive()} == {"v2"}
    assert not fleet.coord.slots(third)
