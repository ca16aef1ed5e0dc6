"""The agent's HTTP API in-process: auth on reads and mutations, status, metrics."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from driftless.agent import Agent, AgentConfig, SourceConfig, StackStatus
from driftless.agent.api import build_app
from driftless.model import Condition, Sensitive


def _agent(tmp_path: Path, *, read_token: str | None = None) -> Agent:
    cfg = AgentConfig(
        sources=(SourceConfig("app", str(tmp_path / "repo")),), state_dir=tmp_path / "state",
        admin_token=Sensitive("admin-1"),
        read_token=Sensitive(read_token) if read_token else None)
    agent = Agent(cfg)
    agent.store.put_status(StackStatus("web", source="app", revision="a" * 40,
                                       conditions=(Condition("Ready", True, "ok"),),
                                       healthy_revisions=("b" * 40, "a" * 40)))
    return agent


def test_mutations_need_the_admin_token(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    client = TestClient(build_app(agent))
    for action in ("reconcile", "suspend", "resume", "rollback", "unpin"):
        assert client.post(f"/api/v1/stacks/web/{action}").status_code == 401
        bad = client.post(f"/api/v1/stacks/web/{action}",
                          headers={"Authorization": "Bearer admin-2"})
        assert bad.status_code == 401
    assert agent.store.controls("web").suspended is False
    ok = client.post("/api/v1/stacks/web/suspend", headers={"Authorization": "Bearer admin-1"})
    assert ok.status_code == 202 and agent.store.controls("web").suspended
    rb = client.post("/api/v1/stacks/web/rollback", headers={"Authorization": "Bearer admin-1"})
    assert rb.json()["pinned"] == "b" * 40


def test_reads_need_the_read_token_when_configured(tmp_path: Path) -> None:
    client = TestClient(build_app(_agent(tmp_path, read_token="reader")))
    assert client.get("/api/v1/stacks").status_code == 401
    assert client.get("/healthz").status_code == 200
    doc = client.get("/api/v1/stacks", headers={"Authorization": "Bearer reader"}).json()
    assert [s["stack"] for s in doc["stacks"]] == ["web"]
    admin = client.get("/api/v1/stacks/web", headers={"Authorization": "Bearer admin-1"})
    assert admin.json()["revision"] == "a" * 40
    assert "admin-1" not in admin.text and "reader" not in admin.text


def test_open_reads_metrics_and_unknown_stack(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    agent.metrics.observe(stack="web", result="applied", duration=0.2, error_reason=None,
                          drifted=2, by_health={"Healthy": 3})
    client = TestClient(build_app(agent))
    assert client.get("/api/v1/stacks/nope").status_code == 404
    text = client.get("/metrics").text
    assert 'driftless_reconciles_total{result="applied",stack="web"} 1.0' in text
    assert 'driftless_resources{health="Healthy",stack="web"} 3.0' in text
    assert client.get("/readyz").status_code == 503  # the loop has not started
    unknown = client.post("/api/v1/stacks/nope/reconcile",
                          headers={"Authorization": "Bearer admin-1"})
    assert unknown.status_code == 404 and "unknown stack" in unknown.json()["error"]
