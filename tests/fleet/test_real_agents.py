"""Ten real agent processes in fleet mode on one real etcd (the acceptance scenario).

Audited from the store, not from the agents' logs: ``history`` replays every
slot grant and end as etcd recorded them (its own revision history of the
slot keys, lease-expiry deletes included). ``agent_harness.scenario``:

1. the first revision rolls out: canary first, never more than 3 slots held;
2. a second revision: 3 random non-canary agents (slot holders first) are
   SIGKILLed mid-rollout; their slots go when their leases run out, and the
   other 7 converge;
3. a revision that fails on the canary halts the rollout before any other
   node applies; the canary returns to the last good revision.

The same scenario on DynamoDB (moto) and PostgreSQL, and with 50 agents,
runs in bench/bench_fleet_agents.py (it takes longer than make test allows)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import AgentFleet, scenario

from driftless.fleet.base import Coordinator
from driftless.fleet.dynamo import DynamoCoordinator
from driftless.fleet.etcd import EtcdCoordinator
from driftless.fleet.postgres import PostgresCoordinator

N = 10
TTL = 3.0


AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
       "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


def _store(backend: str, request: pytest.FixtureRequest,
           monkeypatch: pytest.MonkeyPatch) -> tuple[str, Coordinator, dict[str, str]]:
    """The store URL the agents get, a coordinator on it for the test, extra env."""
    ns = uuid.uuid4().hex[:8]
    if backend == "etcd":
        url = request.getfixturevalue("etcd_url")
        return (f"etcd://{url.removeprefix('http://')}/agents-{ns}",
                EtcdCoordinator(url, prefix=f"/agents-{ns}"), {})
    if backend == "dynamodb":
        url = request.getfixturevalue("moto_url")
        for key, value in AWS.items():
            monkeypatch.setenv(key, value)
        coord = DynamoCoordinator(f"fleet-{ns}", region="us-east-1", endpoint=url)
        coord.create_table()
        return f"dynamodb://fleet-{ns}?region=us-east-1&endpoint={url}", coord, AWS
    server = request.getfixturevalue("pg_server")
    url = server.url(schema=f"agents_{ns}")
    return url, PostgresCoordinator(url), {}


@pytest.fixture(params=["etcd"])
def fleet(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentFleet]:
    store, coord, extra = _store(request.param, request, monkeypatch)
    env = {"DRIFTLESS_FLEET_MAX_UNAVAILABLE": "30%", "DRIFTLESS_FLEET_CANARY": "1",
           "DRIFTLESS_FLEET_FAILURE_THRESHOLD": "30%", "DRIFTLESS_FLEET_TTL": str(TTL),
           "DRIFTLESS_FLEET_POLL": "0.5", "DRIFTLESS_FLEET_HEALTH_TIMEOUT": "20", **extra}
    agents = AgentFleet(tmp_path, store, coord, N, env)
    try:
        yield agents
    finally:
        agents.stop()
        coord.close()


def test_rollouts_respect_slots_survive_sigkill_and_halt_on_a_failing_canary(
        fleet: AgentFleet) -> None:
    fleet.start_idle(timeout=60)
    measured = scenario(fleet, kills=3, rng=random.Random(15))
    v1 = measured["v1_audit"]
    assert isinstance(v1, dict) and v1["slots"] == 3 and 1 <= v1["peak"] <= 3
    assert v1["grants"] >= N  # every node applied v1 under a slot
    assert len(measured["killed"]) == 3  # type: ignore[arg-type]
