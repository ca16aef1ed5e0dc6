"""A service is healthy only when the listening socket on its checked port is its own.

Real processes: a stale HTTP server holds a free port, then a ``local:service``
checked on that port either binds elsewhere or fails to bind and exits; both
must fail health naming the stale server's pid. A service that listens itself
stays healthy, and so does one whose listener is a descendant (a shell wrapper).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from driftless.cli import app
from driftless.errors import ProviderError
from driftless.health import PortOwnerProbe, local_port, url_port
from driftless.model import Action, Change, HealthCode, Resource, ResourceId
from driftless.providers.local import supervise
from driftless.providers.local.service import ServiceHandler
from servers import free_port

RID = ResourceId("local", "service", "web")
FAST = {"grace_period": 1, "interval": 0.1, "timeout": 1, "failure_threshold": 2}


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
    (d / "index.html").write_text("<h1>hello</h1>")
    return d


@pytest.fixture
def stale(site: Path) -> Iterator[tuple[int, int]]:
    """A stale HTTP server (port, pid) serving the same page, as an earlier run left it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=site, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_answering(port)
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait()


def _wait_answering(port: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answers on port {port}")


def _service(state_dir: Path, site: Path, command: list[str], port: int, **health: Any
             ) -> Resource:
    return Resource(RID, {
        "command": command, "cwd": str(site), "state_dir": str(state_dir), "stop_timeout": 2,
        "health": {"http": {"url": f"http://127.0.0.1:{port}/", "contains": "hello"},
                   **FAST, **health},
    })


def _server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_service_listening_elsewhere_is_not_healthy_behind_a_stale_server(
        state_dir: Path, site: Path, stale: tuple[int, int]) -> None:
    port, stale_pid = stale
    h = ServiceHandler()
    desired = _service(state_dir, site, _server(free_port()), port)  # binds another port
    with pytest.raises(ProviderError) as err:
        h.create(Change(RID, Action.CREATE, desired))
    message = str(err.value)
    assert "not healthy after the 1s grace period" in message
    assert f"port {port} is held by pid {stale_pid} (python" in message
    assert "), not by this service (pid " in message
    assert h.read(desired, None) is None  # the failed start was stopped


def test_service_that_cannot_bind_names_the_holder(
        state_dir: Path, site: Path, stale: tuple[int, int]) -> None:
    port, stale_pid = stale
    h = ServiceHandler()
    # It tries the port only after a moment, so the check sees the stale server first.
    late = ["sh", "-c", f"sleep 1; exec {sys.executable} -m http.server {port} "
                        "--bind 127.0.0.1"]
    desired = _service(state_dir, site, late, port, grace_period=10)
    with pytest.raises(ProviderError) as err:
        h.create(Change(RID, Action.CREATE, desired))
    message = str(err.value)
    assert "exited with code 1 while starting" in message
    assert f"last check: port {port} is held by pid {stale_pid} (python" in message
    assert "Address already in use" in message  # the log tail


def test_service_that_listens_itself_is_healthy(state_dir: Path, site: Path) -> None:
    port = free_port()
    h = ServiceHandler()
    live = h.create(Change(RID, Action.CREATE, _service(state_dir, site, _server(port), port)))
    health = h.health(live)
    assert health.code is HealthCode.HEALTHY, health.message


def test_listener_in_a_child_of_the_service_counts_as_its_own(
        state_dir: Path, site: Path) -> None:
    port = free_port()
    wrapped = ["sh", "-c", " ".join(_server(port))]  # sh stays the parent of the server
    h = ServiceHandler()
    live = h.create(Change(RID, Action.CREATE, _service(state_dir, site, wrapped, port)))
    assert h.health(live).code is HealthCode.HEALTHY


def test_port_owner_false_lets_another_process_answer_for_the_service(
        state_dir: Path, site: Path, stale: tuple[int, int]) -> None:
    port, _ = stale
    h = ServiceHandler()
    desired = _service(state_dir, site, _server(free_port()), port, port_owner=False)
    live = h.create(Change(RID, Action.CREATE, desired))  # opted out: the answer suffices
    assert h.health(live).code is HealthCode.HEALTHY


def test_probe_messages_and_local_ports() -> None:
    port = free_port()
    nobody = PortOwnerProbe(port, lambda: None).check(timeout=1)
    assert not nobody.ok
    assert nobody.message == f"nothing listens on port {port}; this service (not running) " \
                             "has not bound it"
    assert url_port("http://localhost:8080/x") == 8080
    assert url_port("http://127.0.0.1/") == 80 and url_port("https://[::1]/") == 443
    assert url_port("http://example.com:8080/") is None
    assert local_port("10.0.0.1", 22) is None and local_port("127.0.0.2", 22) == 22


STACK = """\
resources:
  web:
    type: local:service
    properties:
      command: [%(python)s, -m, http.server, "%(other)d", --bind, 127.0.0.1]
      cwd: %(site)s
      state_dir: %(state)s
      stop_timeout: 2
      health:
        http: {url: "http://127.0.0.1:%(port)d/", contains: hello}
        grace_period: 1
        interval: 0.1
        failure_threshold: 2
"""


def test_driftless_apply_fails_health_naming_the_stale_server(
        tmp_path: Path, state_dir: Path, site: Path, stale: tuple[int, int]) -> None:
    port, stale_pid = stale
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: owner\nstacks:\n  - app\n")
    (root / "app" / "stack.yaml").write_text(STACK % {
        "python": sys.executable, "other": free_port(), "site": site, "state": state_dir,
        "port": port})
    result = CliRunner().invoke(app, ["apply", "-C", str(root), "--auto-approve"])
    assert result.exit_code != 0, result.output
    assert f"port {port} is held by pid {stale_pid}" in result.output
