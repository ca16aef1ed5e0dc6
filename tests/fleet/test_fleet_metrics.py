"""The ``driftless_fleet_*`` metrics of one real agent in fleet mode on the real etcd:
they appear only in fleet mode, and change when the agent takes a rollout slot and
gives it back after the health gate."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import httpx
from agent_harness import AgentFleet

from driftless.fleet.etcd import EtcdCoordinator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from agent_helpers import ADMIN, running_agent


def metrics(url: str) -> dict[str, float]:
    """``name{labels}`` -> value, for the driftless_fleet_* samples of one scrape."""
    text = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"},
                     timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("driftless_fleet_"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def one(samples: dict[str, float], prefix: str) -> float | None:
    found = [v for k, v in samples.items() if k.startswith(prefix)]
    assert len(found) <= 1, (prefix, samples)
    return found[0] if found else None


def test_fleet_metrics_follow_a_slot_taken_and_released(etcd_url: str, tmp_path: Path) -> None:
    prefix = f"/metrics-{uuid.uuid4().hex[:8]}"
    coord = EtcdCoordinator(etcd_url, prefix=prefix)
    fleet = AgentFleet(tmp_path, f"etcd://{etcd_url[7:]}{prefix}", coord, 1)
    fleet.commit("idle", role="nobody")
    (tmp_path / "out").mkdir()
    env = {"DRIFTLESS_FLEET": fleet.store_url, "DRIFTLESS_NODE_NAME": "node-000",
           "DRIFTLESS_NODE_TAGS": "role=worker", "DRIFTLESS_FLEET_TTL": "3",
           "DRIFTLESS_FLEET_POLL": "0.3", "DRIFTLESS_VAR_out_dir": str(tmp_path / "out")}
    try:
        with running_agent(tmp_path / "agent", "--source", str(fleet.repo), "--interval",
                           "0.5", "--drift-interval", "3600", env=env) as agent:
            before = metrics(agent.url)
            assert before["driftless_fleet_slots_held"] == 0
            assert before["driftless_fleet_slot_grants_total"] == 0
            assert before["driftless_fleet_halted"] == 0
            assert one(before, "driftless_fleet_store_up") == 1

            rollout = fleet.commit("v1", command="sleep 3")
            held = f'driftless_fleet_slot_held{{rollout="{rollout}",slot="0",stack="worker"}}'
            deadline, samples = time.monotonic() + 20, before
            while held not in samples and time.monotonic() < deadline:
                time.sleep(0.1)
                samples = metrics(agent.url)
            assert samples.get(held) == 1, samples
            assert samples["driftless_fleet_slots_held"] == 1
            assert samples["driftless_fleet_slot_grants_total"] == 1
            assert samples["driftless_fleet_slot_releases_total"] == 0
            key = f'rollout="{rollout}",stack="worker"'
            assert samples[f"driftless_fleet_rollout_slots_in_use{{{key}}}"] == 1
            assert samples[f'driftless_fleet_rollout_nodes{{phase="in_progress",{key}}}'] == 1
            assert samples[f'driftless_fleet_rollout_nodes{{phase="healthy",{key}}}'] == 0

            deadline = time.monotonic() + 20
            while held in samples and time.monotonic() < deadline:
                time.sleep(0.2)
                samples = metrics(agent.url)
            assert held not in samples, samples
            assert samples["driftless_fleet_slots_held"] == 0
            assert samples["driftless_fleet_slot_releases_total"] == 1
            assert samples["driftless_fleet_health_gates_passed_total"] == 1, samples
            assert samples["driftless_fleet_health_gates_failed_total"] == 0
            assert samples[f"driftless_fleet_rollout_slots_in_use{{{key}}}"] == 0
            assert samples[f'driftless_fleet_rollout_nodes{{phase="healthy",{key}}}'] == 1
            assert samples["driftless_fleet_members"] == 1
            assert (tmp_path / "out" / "release.txt").read_text() == "v1"
    finally:
        coord.close()


def test_no_fleet_metrics_outside_fleet_mode(tmp_path: Path) -> None:
    fleet = AgentFleet(tmp_path, "", None, 1)  # type: ignore[arg-type]
    fleet.commit("solo", role="nobody")
    with running_agent(tmp_path / "agent", "--source", str(fleet.repo), "--interval", "5",
                       "--drift-interval", "3600",
                       env={"DRIFTLESS_VAR_out_dir": str(tmp_path / "out")}) as agent:
        text = httpx.get(agent.url + "/metrics", timeout=10,
                         headers={"Authorization": f"Bearer {ADMIN}"}).text
        assert "driftless_source_fetches" in text and metrics(agent.url) == {}
