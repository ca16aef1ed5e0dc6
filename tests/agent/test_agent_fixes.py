"""Agent fixes of issue 17: backoff per source, rollback records, config precedence,
bounded caches. Real git (a smart-HTTP server that can go down), real agent
processes and the real CLI; no timing assertions (those live in bench/)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from agent_helpers import ADMIN, free_port, project_files, running_agent, wait_until

from driftless.agent import AgentConfig, Overrides, SourceConfig, apply_overrides, load_agent_config
from driftless.agent.config import DEFAULT_BODY_LIMIT, webhook_secrets_from_env
from driftless.agent.sources import SourceCache
from driftless.errors import ConfigError, SourceError
from driftless.render.yamlio import YamlCache
from gitserver import GitHttpServer, Workdir, git, init_bare


def _ready(doc: dict[str, object]) -> bool:
    return any(c["type"] == "Ready" and c["status"] for c in doc["conditions"])  # type: ignore[index, attr-defined]


# -- backoff per source ------------------------------------------------------------


def test_backoff_grows_per_source_and_only_a_real_fetch_resets_it(tmp_path: Path) -> None:
    init_bare(tmp_path / "srv", "app.git")
    with GitHttpServer(tmp_path / "srv") as srv:
        wd = Workdir.clone(f"{srv.url}/app.git", tmp_path / "wd")
        wd.write(project_files(tmp_path / "page.txt", "v1")).commit("v1").push()
        cache = SourceCache({"app": SourceConfig("app", f"{srv.url}/app.git")},
                            cache_root=tmp_path / "cache")
        first = cache.refresh("app")
        srv.stop()
        delays = []
        for _ in range(4):
            with pytest.raises(SourceError):
                cache.refresh("app")
            delays.append(cache.retry_at("app") - time.time())
            assert cache.current("app") == first  # runs go on with the cached revision
            assert cache.unavailable("app") is not None
        for got, want in zip(delays, (2, 4, 8, 16), strict=True):
            assert want * 0.85 < got <= want * 1.1  # +-10 % jitter
        assert cache.attempt("app") == 4
        assert "unavailable since" in cache.unavailable_note("app")
        srv.start()
        assert cache.refresh("app").revision == first.revision
        assert cache.attempt("app") == 0 and cache.unavailable("app") is None
        assert cache.retry_at("app") == 0


def test_while_git_is_down_ready_stays_false_through_drift_checks(tmp_path: Path) -> None:
    init_bare(tmp_path / "srv", "app.git")
    out = tmp_path / "page.txt"
    with GitHttpServer(tmp_path / "srv") as srv:
        wd = Workdir.clone(f"{srv.url}/app.git", tmp_path / "wd")
        wd.write(project_files(out, "v1")).commit("v1").push()
        with running_agent(tmp_path / "agent", "--source", f"{srv.url}/app.git",
                           "--interval", "0.3", "--drift-interval", "0.2") as agent:
            agent.wait(lambda s: s.get("revision") == wd.head() and _ready(s))
            srv.stop()
            st = agent.wait(lambda s: s["sync"] == "Unknown" and not _ready(s))
            assert "git source 'default' unavailable since" in st["message"]
            out.write_text("edited by hand")  # drift checks still heal on the cached revision
            wait_until(lambda: out.read_text() == "v1", timeout=20)
            for _ in range(10):
                st = agent.stack()
                assert not _ready(st) and st["sync"] == "Unknown", st
                ready = httpx.get(agent.url + "/readyz", timeout=5)
                assert ready.status_code == 503
                assert "default" in ready.json()["sources_unavailable"]
                time.sleep(0.1)
            srv.start()
            agent.wait(lambda s: _ready(s) and s["sync"] == "Synced", timeout=30)
            assert httpx.get(agent.url + "/readyz", timeout=5).status_code == 200


# -- rollback ----------------------------------------------------------------------


def _cli(*args: str, state: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "driftless", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DRIFTLESS_ADMIN_TOKEN": ADMIN})
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def _local_repo(tmp_path: Path, content: str) -> tuple[Path, Workdir]:
    bare = tmp_path / "app.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    wd = Workdir.init(tmp_path / "wd")
    wd.write(project_files(tmp_path / "page.txt", content)).commit(content)
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=wd.path)
    return bare, wd


def test_a_cli_rollback_is_recorded_as_rollback_with_target_and_who(tmp_path: Path) -> None:
    bare, wd = _local_repo(tmp_path, "v1")
    v1 = wd.head()
    with running_agent(tmp_path / "agent", "--source", str(bare), "--interval", "0.3",
                       "--drift-interval", "3600") as agent:
        agent.wait(lambda s: s.get("revision") == v1 and _ready(s))
        wd.write(project_files(tmp_path / "page.txt", "v2")).commit("v2")
        git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=wd.path)
        agent.wait(lambda s: s.get("revision") == wd.head() and _ready(s))
        _cli("rollback", "web", "--to", v1, state=agent.state_dir)
        agent.wait(lambda s: s.get("revision") == v1 and _ready(s))
        entry = agent.get("/api/v1/stacks/web/history?limit=1")["history"][0]
        assert entry["trigger"] == "rollback" and entry["revision"] == v1
        assert entry["actor"].endswith("(cli)")
        assert entry["reason"].startswith(f"rollback to {v1[:7]} asked by {entry['actor']}")
        assert (tmp_path / "page.txt").read_text() == "v1"


def test_an_api_rollback_names_the_api_as_who_asked(tmp_path: Path) -> None:
    bare, wd = _local_repo(tmp_path, "v1")
    v1 = wd.head()
    with running_agent(tmp_path / "agent", "--source", str(bare), "--interval", "0.3",
                       "--drift-interval", "3600") as agent:
        agent.wait(lambda s: s.get("revision") == v1 and _ready(s))
        wd.write(project_files(tmp_path / "page.txt", "v2")).commit("v2")
        git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=wd.path)
        agent.wait(lambda s: s.get("revision") == wd.head() and _ready(s))
        resp = httpx.post(agent.url + "/api/v1/stacks/web/rollback", json={"to": v1},
                          headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert resp.status_code == 202
        agent.wait(lambda s: s.get("revision") == v1 and _ready(s))
        entry = agent.get("/api/v1/stacks/web/history?limit=1")["history"][0]
        assert (entry["trigger"], entry["actor"]) == ("rollback",
                                                      "API admin token from 127.0.0.1")


# -- configuration precedence ----------------------------------------------------------


def test_overrides_beat_the_file_and_the_file_beats_defaults(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(
        "agent:\n  state_dir: from-file\n  listen: 127.0.0.1:9001\n  drift_interval: 30\n"
        "  webhook_body_limit: 4096\n  sources: [{name: app, url: /srv/app.git, interval: 5}]\n")
    cfg = load_agent_config(tmp_path / "agent.yaml")
    assert cfg.state_dir == (tmp_path / "from-file").resolve()
    assert (cfg.port, cfg.drift_interval, cfg.webhook_body_limit) == (9001, 30.0, 4096)
    assert apply_overrides(cfg, Overrides()) == cfg
    over = apply_overrides(cfg, Overrides(state_dir=Path("/x"), listen="127.0.0.1:9002",
                                          interval=1.5, drift_interval=7.0))
    assert (over.state_dir, over.port, over.drift_interval) == (Path("/x"), 9002, 7.0)
    assert over.sources[0].interval == 1.5
    (tmp_path / "bare.yaml").write_text("agent:\n  sources: [{url: /srv/app.git}]\n")
    plain = load_agent_config(tmp_path / "bare.yaml")
    assert plain.state_dir == AgentConfig(sources=()).state_dir
    assert plain.webhook_body_limit == DEFAULT_BODY_LIMIT
    (tmp_path / "bad.yaml").write_text(
        "agent:\n  webhook_body_limit: 10\n  sources: [{url: /srv/app.git}]\n")
    with pytest.raises(ConfigError, match="webhook_body_limit"):
        load_agent_config(tmp_path / "bad.yaml")


def test_webhook_secrets_are_per_provider() -> None:
    only_github = webhook_secrets_from_env({"DRIFTLESS_WEBHOOK_SECRET": "s"})
    assert only_github.github is not None
    assert only_github.gitlab is None and only_github.hmac is None


def test_webhook_config_refuses_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "agent:\n  sources: [{url: /srv/a.git, webhook: {gitlab_secret: {env: X}}}]\n")
    with pytest.raises(ConfigError, match="github_secret, gitlab_token, generic_secret"):
        load_agent_config(tmp_path / "a.yaml")


def _store_dir_of_started_agent(tmp_path: Path, *args: str,
                                env: dict[str, str] | None = None) -> Path:
    """Start ``driftless agent ARGS`` in tmp_path, return where it put its store."""
    proc = subprocess.Popen([sys.executable, "-m", "driftless", "agent", *args],
                            cwd=tmp_path, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    candidates = [tmp_path / d / ".driftless" / "agent.db"
                  for d in ("from-flag", "from-env", "from-file", ".driftless-agent")]
    try:
        wait_until(lambda: any(c.exists() for c in candidates), timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    found = [c for c in candidates if c.exists()]
    assert len(found) == 1, found
    return found[0].parent.parent


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        pytest.param(False, False, "from-file", id="file-beats-default"),
        pytest.param(False, True, "from-env", id="env-beats-file"),
        pytest.param(True, True, "from-flag", id="flag-beats-env"),
    ],
)
def test_state_dir_precedence_of_a_real_agent(tmp_path: Path, flag: bool, env: bool,
                                              expected: str) -> None:
    bare, _ = _local_repo(tmp_path, "v1")
    (tmp_path / "agent.yaml").write_text(
        f"agent:\n  state_dir: from-file\n  listen: 127.0.0.1:{free_port()}\n"
        f"  sources: [{{name: app, url: {bare}}}]\n")
    args = ["--config", "agent.yaml"] + (["--state-dir", "from-flag"] if flag else [])
    environ = {"DRIFTLESS_AGENT_STATE_DIR": "from-env"} if env else {}
    assert _store_dir_of_started_agent(tmp_path, *args, env=environ).name == expected


# -- bounded caches ------------------------------------------------------------------


def test_yaml_cache_keeps_the_current_version_of_a_file_and_a_byte_bound(tmp_path: Path,
                                                                        ) -> None:
    cache = YamlCache(max_bytes=1 << 20)
    path = tmp_path / "stack.yaml"
    for i in range(6):
        path.write_text(f"resources: {{f: {{n: {i}}}}}\n")
        assert cache.load(path, name="stacks/web/stack.yaml") == {"resources": {"f": {"n": i}}}
    assert len(cache._parsed) == 1  # only the current version
    small = YamlCache(max_bytes=3000)
    for i in range(10):
        other = tmp_path / f"s{i}.yaml"
        other.write_text(f"k{i}: {'x' * 1000}\n")
        small.load(other, name=f"s{i}.yaml")
    assert small._bytes <= 3000 and len(small._parsed) <= 3


# -- drift checks during bursts --------------------------------------------------------


def test_a_pending_webhook_never_displaces_a_due_drift_check(tmp_path: Path) -> None:
    from driftless.agent import Agent

    bare, wd = _local_repo(tmp_path, "v1")
    agent = Agent(AgentConfig(sources=(SourceConfig("default", str(bare)),),
                              state_dir=tmp_path / "state", drift_interval=300))
    agent._cycle_once()  # first fetch and deploy
    slot = agent.slots["web"]
    assert agent.store.status("web").revision == wd.head()
    for _ in range(50):  # a burst: every delivery names the commit already fetched
        agent.request(source="default", trigger="webhook", after=wd.head())
    fetches = agent.sources.fetches("default")
    slot.drift_due = 0.0  # the drift check is due now
    now = time.time()
    agent._take_requests(now)
    agent._fetch_due_sources(now)
    agent._drift_due(now)
    assert agent.sources.fetches("default") == fetches  # nothing to fetch for those
    assert slot.drift_pending and slot.due <= now
    assert agent._trigger(slot, agent.store.status("web")) == "drift"


def test_an_agent_restarted_while_git_is_down_does_not_report_old_ready(tmp_path: Path) -> None:
    init_bare(tmp_path / "srv", "app.git")
    with GitHttpServer(tmp_path / "srv") as srv:
        wd = Workdir.clone(f"{srv.url}/app.git", tmp_path / "wd")
        wd.write(project_files(tmp_path / "page.txt", "v1")).commit("v1").push()
        args = ("--source", f"{srv.url}/app.git", "--interval", "0.3", "--drift-interval", "3600")
        with running_agent(tmp_path / "agent", *args) as agent:
            agent.wait(lambda s: s.get("revision") == wd.head() and _ready(s))
        srv.stop()
        with running_agent(tmp_path / "agent", *args) as agent:
            st = agent.wait(lambda s: not _ready(s))
            assert st["sync"] == "Unknown" and "unavailable since" in st["message"]
            assert st["revision"] == wd.head()  # what is deployed is still known
            assert httpx.get(agent.url + "/readyz", timeout=5).status_code == 503
