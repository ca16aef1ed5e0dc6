"""local:service against real detached processes and real HTTP health checks."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from driftless.errors import ProviderError
from driftless.model import (
    Action,
    Change,
    HealthCode,
    LiveResource,
    Resource,
    ResourceId,
    Sensitive,
)
from driftless.providers.base import schema_problems
from driftless.providers.local import supervise
from driftless.providers.local.service import ServiceHandler
from servers import free_port

RID = ResourceId("local", "service", "web")
FAST_HEALTH = {"grace_period": 3, "interval": 0.1, "timeout": 1, "failure_threshold": 2}




@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state dir whose every supervisor and child is killed at the end."""
    root = tmp_path / "services"
    yield root
    for status_file in root.glob("*/status.json"):
        status = supervise.load_status(status_file)
        if status:
            supervise.stop(status, stop_timeout=0.5)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    d = tmp_path / "site"
    d.mkdir()
    (d / "index.html").write_text("<h1>hello v1</h1>")
    return d


def _web(state_dir: Path, site: Path, port: int, **extra: Any) -> Resource:
    props: dict[str, Any] = {
        "command": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "cwd": str(site),
        "state_dir": str(state_dir),
        "stop_timeout": 2,
        "health": {"http": {"url": f"http://127.0.0.1:{port}/", "contains": "hello"},
                   **FAST_HEALTH},
    }
    props.update(extra)
    return Resource(RID, props)


def _apply(h: ServiceHandler, desired: Resource, prior: LiveResource | None) -> LiveResource:
    live = h.read(desired, prior)
    change = h.diff(desired, live)
    if change.action is Action.CREATE:
        return h.create(change)
    if change.action is Action.UPDATE:
        return h.update(change)
    assert live is not None
    return live


def _starts(live: LiveResource) -> int:
    log = Path(live.private["paths"]["log"]).read_text()
    return log.count("] started pid ")


def test_start_is_detached_healthy_and_keeps_secrets_out(state_dir: Path, site: Path) -> None:
    h, port = ServiceHandler(), free_port()
    desired = _web(state_dir, site, port, env={"API_TOKEN": Sensitive("s3cret-token")})
    live = _apply(h, desired, None)
    assert h.health(live).code is HealthCode.HEALTHY
    sup = live.private["supervisor_pid"]
    assert sup != os.getpid() and os.getppid() != sup
    assert live.attributes["pid"] != sup
    assert live.attributes["command"][:3] == [sys.executable, "-m", "http.server"]
    on_disk = "".join(p.read_text() for p in (state_dir / "web").iterdir() if p.is_file())
    everything = json.dumps([dict(live.attributes), dict(live.private)]) + on_disk
    assert "s3cret-token" not in everything
    environ = Path(f"/proc/{live.attributes['pid']}/environ").read_bytes()
    assert b"API_TOKEN=s3cret-token" in environ


def test_noop_keeps_pid_and_spec_change_restarts_once(state_dir: Path, site: Path) -> None:
    h, port = ServiceHandler(), free_port()
    live = _apply(h, _web(state_dir, site, port), None)
    again = h.read(_web(state_dir, site, port), live)
    assert h.diff(_web(state_dir, site, port), again).action is Action.NOOP
    assert again is not None and again.attributes["pid"] == live.attributes["pid"]
    changed = _web(state_dir, site, port, env={"GREETING": "v2"})
    change = h.diff(changed, again)
    assert change.action is Action.UPDATE and [d.path for d in change.diffs] == ["env.GREETING"]
    after = h.update(change)
    assert after.attributes["pid"] != live.attributes["pid"]
    assert _starts(after) == 2
    assert h.diff(changed, h.read(changed, after)).action is Action.NOOP


def test_triggered_update_restarts_exactly_once(state_dir: Path, site: Path) -> None:
    h, port = ServiceHandler(), free_port()
    desired = _web(state_dir, site, port)
    live = _apply(h, desired, None)
    page = ResourceId("local", "template", "page")
    after = h.update(Change(RID, Action.UPDATE, desired, live, triggered_by=(page,)))
    assert after.attributes["pid"] != live.attributes["pid"]
    assert _starts(after) == 2
    assert h.health(after).code is HealthCode.HEALTHY


def test_killed_process_is_missing_and_next_apply_restores(state_dir: Path, site: Path) -> None:
    h, port = ServiceHandler(), free_port()
    desired = _web(state_dir, site, port, restart="never")
    live = _apply(h, desired, None)
    os.kill(live.attributes["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while h.read(desired, live) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert h.read(desired, live) is None
    assert h.health(live).code is HealthCode.MISSING
    restored = _apply(h, desired, live)
    assert restored.attributes["pid"] != live.attributes["pid"]
    assert h.health(restored).code is HealthCode.HEALTHY


def test_supervisor_restarts_a_crashed_child(state_dir: Path, site: Path) -> None:
    h, port = ServiceHandler(), free_port()
    desired = _web(state_dir, site, port, restart="always")
    live = _apply(h, desired, None)
    os.kill(live.attributes["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    current = live
    while time.monotonic() < deadline:
        read = h.read(desired, live)
        if read and read.attributes["pid"] not in (None, live.attributes["pid"]):
            current = read
            break
        time.sleep(0.05)
    assert current.attributes["pid"] != live.attributes["pid"]
    assert current.private["supervisor_pid"] == live.private["supervisor_pid"]
    assert "exited with code -9; restarting" in Path(live.private["paths"]["log"]).read_text()


def test_never_healthy_fails_after_grace_with_last_message(state_dir: Path, site: Path) -> None:
    h, port, wrong = ServiceHandler(), free_port(), free_port()
    desired = _web(state_dir, site, port, health={
        "http": {"url": f"http://127.0.0.1:{wrong}/"},
        "grace_period": 0.5, "interval": 0.1, "failure_threshold": 2,
    })
    began = time.monotonic()
    with pytest.raises(ProviderError) as err:
        h.create(Change(RID, Action.CREATE, desired))
    assert time.monotonic() - began >= 0.5
    message = str(err.value)
    assert message.startswith("local:service/web: not healthy after the 0.5s grace period")
    assert "connection refused" in message
    assert h.read(desired, None) is None  # nothing left running


def test_port_in_use_is_a_clear_error_with_the_log(state_dir: Path, site: Path) -> None:
    h = ServiceHandler()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ProviderError) as err:
            h.create(Change(RID, Action.CREATE, _web(state_dir, site, port)))
    message = str(err.value)
    assert "exited with code 1 while starting" in message
    assert "Address already in use" in message
    assert h.read(_web(state_dir, site, port), None) is None


def test_stop_escalates_to_sigkill_for_a_stubborn_process(state_dir: Path, tmp_path: Path) -> None:
    h = ServiceHandler()
    stubborn = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ready', flush=True)\ntime.sleep(60)\n")
    log = tmp_path / "stubborn.log"  # outside state_dir: destroy keeps it to read here
    desired = Resource(RID, {"command": [sys.executable, "-c", stubborn],
                             "state_dir": str(state_dir), "stop_timeout": 0.5,
                             "log": str(log)})
    live = h.create(Change(RID, Action.CREATE, desired))
    child = live.attributes["pid"]
    began = time.monotonic()
    h.delete(live)
    assert 0.5 <= time.monotonic() - began < 5
    assert not supervise.is_alive(child, live.private["create_time"])
    assert not supervise.is_alive(live.private["supervisor_pid"],
                                  live.private["supervisor_create_time"])
    assert "SIGKILL" in log.read_text()


def test_env_file_and_explicit_env(state_dir: Path, tmp_path: Path) -> None:
    h = ServiceHandler()
    env_file = tmp_path / "app.env"
    env_file.write_text("# app settings\nCOLOR=blue\nexport SIZE='L'\n")
    script = "import os, time; print(os.environ['COLOR'], os.environ['SIZE'], flush=True); " \
             "time.sleep(60)"
    desired = Resource(RID, {"command": [sys.executable, "-c", script], "env_file": str(env_file),
                             "env": {"SIZE": "XL"}, "state_dir": str(state_dir)})
    live = h.create(Change(RID, Action.CREATE, desired))
    log = Path(live.private["paths"]["log"])
    deadline = time.monotonic() + 5
    while "blue" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "blue XL" in log.read_text()


def test_bad_input_is_named(state_dir: Path, tmp_path: Path) -> None:
    h = ServiceHandler()
    spec = h.spec
    assert schema_problems(spec, {"command": "x", "restart": "sometimes"})
    assert schema_problems(spec, {"command": "x", "colour": 1}) == ["unknown property 'colour'"]
    missing_cmd = Resource(RID, {"command": "no-such-binary-xyz --flag",
                                 "state_dir": str(state_dir)})
    with pytest.raises(ProviderError, match="command 'no-such-binary-xyz' not found"):
        h.create(Change(RID, Action.CREATE, missing_cmd))
    no_env = Resource(RID, {"command": "sleep 1", "env_file": str(tmp_path / "nope.env"),
                            "state_dir": str(state_dir)})
    with pytest.raises(ProviderError, match=r"env_file .* does not exist"):
        h.create(Change(RID, Action.CREATE, no_env))


def test_pid_reuse_is_not_our_process() -> None:
    me = os.getpid()
    real = psutil.Process(me).create_time()
    assert supervise.is_alive(me, real)
    assert not supervise.is_alive(me, real - 100)


def test_rotating_log_caps_size(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = supervise.RotatingLog(logs / "svc.log", max_bytes=100, backups=2)
    for i in range(20):
        log.write(f"line {i:02d} ".encode() * 3 + b"\n")
    names = sorted(p.name for p in logs.iterdir())
    assert names == ["svc.log", "svc.log.1", "svc.log.2"]
    assert all(p.stat().st_size <= 100 for p in logs.iterdir())
    assert "line 19" in (logs / "svc.log").read_text()
    assert "line 00" not in "".join(p.read_text() for p in logs.iterdir())


def test_invalid_properties_are_a_provider_error(state_dir: Path) -> None:
    h = ServiceHandler()
    bad = Resource(RID, {"command": "sleep 1", "restart": "sometimes", "state_dir": str(state_dir)})
    with pytest.raises(ProviderError, match=r"^local:service/web: invalid properties: property "
                                            r"'restart'"):
        h.read(bad, None)


def test_destroy_removes_what_the_supervisor_wrote_but_not_a_log_placed_elsewhere(
        state_dir: Path, site: Path, tmp_path: Path) -> None:
    h, port = ServiceHandler(), free_port()
    live = _apply(h, _web(state_dir, site, port), None)
    assert {p.name for p in (state_dir / "web").iterdir()} >= {"supervisor.json", "service.log"}
    h.delete(live)
    assert not (state_dir / "web").exists()
    kept_log = tmp_path / "logs" / "web.log"
    live = _apply(h, _web(state_dir, site, free_port(), log=str(kept_log)), None)
    h.delete(live)
    assert not (state_dir / "web").exists() and "started pid" in kept_log.read_text()
