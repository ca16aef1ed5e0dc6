"""Unit tests of the agent's pure parts: schedule, store, policy, config, controls."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from driftless.agent import (
    AgentStore,
    StackStatus,
    check_manual_apply,
    load_agent_config,
    next_run,
    parse_listen,
    pin,
    record_break_glass,
    set_suspended,
    unpin,
)
from driftless.agent.store import default_store_path
from driftless.errors import (
    ConfigError,
    LockHeld,
    Problem,
    RenderError,
    SourceError,
    WaitError,
)
from driftless.model import Condition, HistoryEntry, LockInfo


@pytest.mark.parametrize(
    ("exc", "ctype", "status", "reason"),
    [
        (None, "Ready", True, "ReconciliationSucceeded"),
        (RenderError([Problem("bad", "s.yaml", 3, 5)]), "Stalled", True, "RenderError"),
        (ConfigError("bad"), "Stalled", True, "ConfigError"),
        (SourceError("down"), "Ready", False, "SourceUnavailable"),
        (WaitError("dep", retry_after=2.5), "Ready", False, "DependencyNotReady"),
        (RuntimeError("boom"), "Ready", False, "InternalError"),
    ],
    ids=["ok", "render", "config", "source", "wait", "internal"],
)
def test_next_run_maps_exceptions_to_conditions(
    exc: BaseException | None, ctype: str, status: bool, reason: str
) -> None:
    cond, delay = next_run(exc, 0, interval=60.0, rng=random.Random(1))
    assert (cond.type, cond.status, cond.reason) == (ctype, status, reason)
    assert delay >= 0


def test_render_error_message_keeps_file_line() -> None:
    cond, _ = next_run(RenderError([Problem("unknown reference", "st.yaml", 9, 38)]), 0)
    assert "st.yaml:9:38" in cond.message


def test_source_error_backs_off_exponentially_with_cap() -> None:
    rng = random.Random(7)
    delays = [next_run(SourceError("down"), n, rng=rng)[1] for n in range(12)]
    assert delays[0] < delays[3] < delays[6]
    assert max(delays) <= 300 * 1.1
    assert next_run(WaitError("x", retry_after=2.5), 5)[1] == 2.5


def test_lock_held_retries_soon() -> None:
    info = LockInfo.new("apply")
    _, delay = next_run(LockHeld("web", info), 4)
    assert delay < 10


def test_store_status_controls_and_history_round_trip(tmp_path: Path) -> None:
    store = AgentStore(default_store_path(tmp_path))
    cond = Condition("Ready", True, "ok")
    store.put_status(StackStatus("web", source="app", revision="abc", conditions=(cond,),
                                 healthy_revisions=("r1", "abc")))
    store.set_controls("web", suspended=True)
    again = AgentStore(default_store_path(tmp_path)).status("web")
    assert again.revision == "abc" and again.ready and again.controls.suspended
    for i in range(3):
        store.add_history(HistoryEntry("web", f"r{i}", "d", "poll", float(i), 0.1))
    assert [h.revision for h in store.history("web")] == ["r2", "r1", "r0"]
    assert store.history("other") == []


def test_pin_defaults_to_previous_healthy_revision(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "a.db")
    store.put_status(StackStatus("web", revision="r3", healthy_revisions=("r1", "r2", "r3")))
    assert pin(store, "web").pinned == "r2"
    assert pin(store, "web", to="r1").pinned == "r1"
    assert unpin(store, "web").pinned is None
    assert set_suspended(store, "web", True).suspended


def test_pin_without_history_is_a_clear_error(tmp_path: Path) -> None:
    store = AgentStore(tmp_path / "a.db")
    store.put_status(StackStatus("web", revision="r1", healthy_revisions=("r1",)))
    with pytest.raises(ConfigError, match="no earlier healthy revision"):
        pin(store, "web")
    with pytest.raises(ConfigError, match="unknown stack 'nope'"):
        pin(store, "nope", to="abc")


def test_never_by_hand_policy() -> None:
    on = {"never_by_hand": True}
    check_manual_apply({}, break_glass=False, reason=None, environ={})
    check_manual_apply(on, break_glass=False, reason=None, environ={"CI": "true"})
    check_manual_apply(on, break_glass=False, reason=None, environ={"DRIFTLESS_AGENT": "1"})
    check_manual_apply(on, break_glass=True, reason="pager at 3am", environ={})
    with pytest.raises(ConfigError, match="only by the agent or CI"):
        check_manual_apply(on, break_glass=False, reason=None, environ={})
    with pytest.raises(ConfigError, match="needs a reason"):
        check_manual_apply(on, break_glass=True, reason=" ", environ={})


def test_break_glass_is_recorded_in_history(tmp_path: Path) -> None:
    record_break_glass(tmp_path, stacks=["web", "db"], reason="hotfix", actor="ann@box")
    entries = AgentStore(default_store_path(tmp_path)).history()
    assert {(e.stack, e.trigger, e.actor, e.reason) for e in entries} == {
        ("web", "break-glass", "ann@box", "hotfix"), ("db", "break-glass", "ann@box", "hotfix")}


def test_agent_config_from_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    (tmp_path / "token").write_text("admintok\n")
    (tmp_path / "driftless.yaml").write_text(
        "project: x\nagent:\n  listen: 127.0.0.1:9001\n  drift_interval: 30\n"
        "  admin_token: {file: token}\n"
        "  sources:\n    - {name: app, url: ./repo, ref: main, interval: 5,\n"
        "       webhook: {github_secret: {env: HOOK_SECRET}}}\n"
        "  stacks:\n    web: {self_heal: false}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_agent_config(tmp_path / "driftless.yaml")
    assert (cfg.port, cfg.drift_interval) == (9001, 30.0)
    assert cfg.sources[0].url == str(tmp_path / "repo")
    assert str(cfg.sources[0].webhook.github) == "(sensitive)"
    assert cfg.settings_for("web").self_heal is False
    assert cfg.settings_for("other").self_heal is True


def test_agent_config_refuses_literal_tokens_and_public_listen(tmp_path: Path) -> None:
    (tmp_path / "driftless.yaml").write_text(
        "agent:\n  admin_token: hunter2\n  sources: [{url: x}]\n")
    with pytest.raises(ConfigError, match="admin_token") as info:
        load_agent_config(tmp_path / "driftless.yaml")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="loopback"):
        parse_listen("0.0.0.0:8765")


def test_status_and_rollback_cli_work_without_a_running_agent(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from driftless.cli import app

    store = AgentStore(default_store_path(tmp_path))
    store.put_status(StackStatus(
        "web", sync="Synced", health="Healthy", revision="3f2a9c1aa", last_apply=1.0,
        message="stacks/web/stack.yaml:12:5: unknown variable 'domian'",
        conditions=(Condition("Stalled", True, "RenderError"),),
        healthy_revisions=("0123456ab", "3f2a9c1aa")))
    runner = CliRunner()
    out = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "STACK" in out.output and "Stalled" in out.output and "3f2a9c1" in out.output
    doc = json.loads(runner.invoke(app, ["status", "--json", "--state-dir", str(tmp_path)]).output)
    assert doc["stacks"][0]["message"].startswith("stacks/web/stack.yaml:12:5")
    rb = runner.invoke(app, ["rollback", "web", "--state-dir", str(tmp_path)])
    assert rb.exit_code == 0 and "pinned to 0123456" in rb.output
    assert store.controls("web").pinned == "0123456ab"
    bad = runner.invoke(app, ["suspend", "nope", "--state-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "unknown stack 'nope'" in bad.output


def test_agent_config_sets_readable_roots_and_limits(tmp_path: Path) -> None:
    (tmp_path / "driftless.yaml").write_text(
        "agent:\n  sources: [{name: app, url: /srv/app.git}]\n"
        "  allow_read: [shared]\n  limits: {instances: 123}\n")
    cfg = load_agent_config(tmp_path / "driftless.yaml")
    assert cfg.policy.limits.instances == 123
    assert (tmp_path / "shared").resolve() in cfg.policy.read_roots
    (tmp_path / "driftless.yaml").write_text(
        "agent:\n  sources: [{name: app, url: /srv/app.git}]\n  limits: {instancez: 5}\n")
    with pytest.raises(ConfigError, match="unknown limit 'instancez'"):
        load_agent_config(tmp_path / "driftless.yaml")


def test_agent_config_sets_secret_reference_policy(tmp_path: Path) -> None:
    (tmp_path / "driftless.yaml").write_text(
        "agent:\n  sources: [{name: app, url: /srv/app.git}]\n"
        "  secrets: {files: [secrets], env: ['APP_*'], commands: true}\n")
    policy = load_agent_config(tmp_path / "driftless.yaml").policy
    assert policy.may_read_secret((tmp_path / "secrets" / "db").resolve())
    assert not policy.may_read_secret(tmp_path.resolve())
    assert policy.secret_env == ("APP_*",) and policy.secret_commands


def test_status_and_history_create_nothing_and_say_when_empty(tmp_path: Path) -> None:
    import subprocess
    import sys

    empty = tmp_path / "empty"
    empty.mkdir()
    for args in (["status"], ["status", "--json"], ["history", "web"]):
        done = subprocess.run([sys.executable, "-m", "driftless", *args], cwd=empty,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip(), f"{args} printed nothing"
    assert list(empty.iterdir()) == []
