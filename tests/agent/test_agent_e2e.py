"""End to end: a real git HTTP server, the agent as a subprocess, real files."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent_helpers import (
    ADMIN,
    AgentProc,
    free_port,
    project_files,
    push_body,
    running_agent,
    wait_until,
)

from driftless.state import open_backend
from gitserver import GitHttpServer, Workdir, git, git_http_server, init_bare


def _sync(agent: AgentProc, rev: str) -> dict[str, object]:
    return agent.wait(lambda s: s["revision"] == rev and s["sync"] == "Synced"
                      and any(c["type"] == "Ready" and c["status"] for c in s["conditions"]))


@contextmanager
def _agent_on_repo(tmp_path: Path, first: dict[str, str], *, interval: str,
                   drift_interval: str) -> Iterator[tuple[str, Workdir, AgentProc]]:
    """A git HTTP server whose main branch holds ``first`` (commit v1) and an agent
    synced to it; yields the server's base URL, a work tree that pushes, the agent."""
    init_bare(tmp_path / "srv", "app.git")
    with git_http_server(tmp_path / "srv") as base:
        wd = Workdir.clone(f"{base}/app.git", tmp_path / "wd")
        wd.write(first).commit("v1").push()
        with running_agent(tmp_path / "agent", "--source", f"{base}/app.git",
                           "--interval", interval, "--drift-interval", drift_interval) as agent:
            _sync(agent, wd.head())
            yield base, wd, agent


def test_commit_webhook_broken_commit_and_recovery(tmp_path: Path) -> None:
    out = tmp_path / "out" / "page.txt"
    out.parent.mkdir()
    with _agent_on_repo(tmp_path, project_files(out, "v1"), interval="3600",
                        drift_interval="3600") as (base, wd, agent):
        assert out.read_text() == "v1"

        wd.write(project_files(out, "v2")).commit("v2").push()
        assert agent.hook(push_body(base)).status_code == 202
        _sync(agent, wd.head())
        assert out.read_text() == "v2"

        good = wd.head()
        wd.write({"stacks/web/stack.yaml": "resources:\n  page: [unclosed\n"}).commit("bad")
        wd.push()
        agent.hook(push_body(base))
        st = agent.wait(lambda s: any(c["type"] == "Stalled" for c in s["conditions"]))
        assert "stack.yaml:" in st["message"]
        assert st["revision"] == good and out.read_text() == "v2"

        wd.write(project_files(out, "v3")).commit("v3").push()
        agent.hook(push_body(base))
        _sync(agent, wd.head())
        assert out.read_text() == "v3"
        history = agent.get("/api/v1/stacks/web/history")["history"]
        assert {"webhook", "poll"} <= {h["trigger"] for h in history}
        assert any("changed in" in h["reason"] for h in history)


def test_bad_signature_replay_and_other_branch_are_ignored(tmp_path: Path) -> None:
    out = tmp_path / "page.txt"
    with _agent_on_repo(tmp_path, project_files(out, "v1"), interval="3600",
                        drift_interval="3600") as (base, wd, agent):
        wd.write(project_files(out, "v2")).commit("v2").push()
        assert agent.hook(push_body(base), secret="wrong").status_code == 401
        other = agent.hook(push_body(base, ref="refs/heads/feature"))
        assert other.status_code == 200 and other.json()["ignored"] == "other ref"
        first = agent.hook(push_body(base), delivery="d-1")
        assert first.status_code == 202
        _sync(agent, wd.head())
        replay = agent.hook(push_body(base), delivery="d-1")
        assert replay.json()["ignored"] == "replay"
        for action in ("reconcile", "suspend", "rollback"):
            resp = httpx_post(agent.url + f"/api/v1/stacks/web/{action}", token="nope")
            assert resp == 401
    assert agent.proc.returncode == 0  # SIGTERM: clean exit, lock released
    backend = open_backend("sqlite:///.driftless/state.db", root=agent.state_dir)
    assert backend.lock_info("web") is None and backend.read("web").serial >= 2
    backend.close()


def httpx_post(url: str, *, token: str) -> int:
    import httpx

    return httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code


def test_drift_is_healed_and_rollback_does_not_flap(tmp_path: Path) -> None:
    out = tmp_path / "page.txt"
    with _agent_on_repo(tmp_path, project_files(out, "v1"), interval="0.3",
                        drift_interval="0.3") as (_, wd, agent):
        v1 = wd.head()
        out.unlink()
        wait_until(lambda: out.exists() and out.read_text() == "v1", timeout=10)

        wd.write(project_files(out, "v2")).commit("v2").push()
        _sync(agent, wd.head())
        _cli("rollback", "web", "--to", v1, state=agent.state_dir)
        _sync(agent, v1)
        time.sleep(1.5)  # several polls and drift checks: it must stay on v1
        assert out.read_text() == "v1" and agent.stack()["revision"] == v1
        _cli("unpin", "web", state=agent.state_dir)
        _sync(agent, wd.head())
        assert out.read_text() == "v2"

        _cli("suspend", "web", state=agent.state_dir)
        agent.wait(lambda s: s["message"].startswith("suspended"))
        wd.write(project_files(out, "v3")).commit("v3").push()
        time.sleep(1.0)
        assert out.read_text() == "v2"
        _cli("resume", "web", state=agent.state_dir)
        _sync(agent, wd.head())
        assert out.read_text() == "v3"


def test_drift_only_reported_with_self_heal_off(tmp_path: Path) -> None:
    out = tmp_path / "page.txt"
    files = project_files(out, "v1", stack_extra="settings: {self_heal: false}\n")
    with _agent_on_repo(tmp_path, files, interval="3600", drift_interval="0.3") as (_, _, agent):
        out.write_text("edited by hand")
        st = agent.wait(lambda s: s["sync"] == "OutOfSync")
        assert "self_heal is off" in st["message"]
        time.sleep(0.8)
        assert out.read_text() == "edited by hand"


def _cli(*args: str, state: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "driftless", *args, "--state-dir", str(state)],
        capture_output=True, text=True, timeout=30,
        env={**__import__("os").environ, "DRIFTLESS_ADMIN_TOKEN": ADMIN})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_git_outage_is_reported_with_backoff_and_recovers(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "srv", "app.git")
    out = tmp_path / "page.txt"
    with GitHttpServer(tmp_path / "srv") as srv:
        wd = Workdir.clone(f"{srv.url}/app.git", tmp_path / "wd")
        wd.write(project_files(out, "v1")).commit("v1").push()
        with running_agent(tmp_path / "agent", "--source", f"{srv.url}/app.git",
                           "--interval", "0.3", "--drift-interval", "3600") as agent:
            _sync(agent, wd.head())
            srv.stop()
            st = agent.wait(lambda s: any(c["reason"] == "SourceUnavailable"
                                          for c in s["conditions"]))
            assert "127.0.0.1" in st["message"] and out.read_text() == "v1"
            wd.write(project_files(out, "v2")).commit("v2")
            git("push", str(bare), "HEAD:refs/heads/main", cwd=wd.path)
            time.sleep(0.5)
            assert agent.proc.poll() is None
            srv.start()
            _sync(agent, wd.head())
            assert out.read_text() == "v2"


def _bad_service(tmp_path: Path) -> str:
    port = free_port()
    return (
        "  web:\n    type: local:service\n    properties:\n"
        "      command: [python3, -c, 'import time; time.sleep(120)']\n"
        f"      state_dir: {tmp_path / 'services'}\n"
        f"      health: {{http: {{url: 'http://127.0.0.1:{port}/'}}, grace_period: 1,"
        " interval: 0.2}\n")


def test_auto_rollback_skips_the_unhealthy_revision(tmp_path: Path) -> None:
    out = tmp_path / "page.txt"
    opts = "settings: {auto_rollback: true}\n"
    with _agent_on_repo(tmp_path, project_files(out, "v1", stack_extra=opts), interval="0.3",
                        drift_interval="3600") as (_, wd, agent):
        v1 = wd.head()
        wd.write(project_files(out, "v2", stack_extra=opts,
                               extra_resources=_bad_service(tmp_path))).commit("v2").push()
        v2 = wd.head()
        st = agent.wait(lambda s: v2 in s["bad_revisions"], timeout=30)
        st = _sync(agent, v1)
        assert out.read_text() == "v1"
        time.sleep(1.5)  # polls keep seeing v2 on main: no flapping back to it
        st = agent.stack()
        assert st["revision"] == v1 and "failed health" in st["message"]
        wd.write(project_files(out, "v3", stack_extra=opts)).commit("v3").push()
        _sync(agent, wd.head())
        assert out.read_text() == "v3"
