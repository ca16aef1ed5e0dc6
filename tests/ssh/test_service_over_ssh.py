"""ssh:service against a real sshd: the supervisor runs with the host's python3 from a
copy shipped into the service's directory, and its status, health (checked on the
host, port owner included), restart and stop all go through the SSH connection."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from sshd_servers import Sshd, free_port

from driftless.errors import ProviderError
from driftless.model import Action, Change, Resource, ResourceId, Sensitive
from driftless.providers.local import supervise
from driftless.providers.ssh import SshProvider
from driftless.providers.testing import ConformanceCase, check_provider

PY = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
RID = ResourceId("ssh", "service", "web")


def _kill_all(state_dir: Path) -> None:
    for status_file in state_dir.glob("*/status.json"):
        status = supervise.load_status(status_file)
        if status:
            supervise.stop(status, stop_timeout=0.5)


def _props(sshd: Sshd, tmp_path: Path, port: int, **extra: object) -> dict[str, object]:
    return {
        "command": [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "cwd": str(tmp_path), "state_dir": str(tmp_path / "services"), "stop_timeout": 2,
        "env": {"TOKEN": Sensitive("one")},
        "health": {"http": {"url": f"http://127.0.0.1:{port}/"}, "grace_period": 3,
                   "interval": 0.1},
        "ssh_target": sshd.url, **extra,
    }


def test_service_conformance_over_ssh(provider: SshProvider, sshd: Sshd,
                                      tmp_path: Path) -> None:
    port, state_dir = free_port(), tmp_path / "services"
    props = _props(sshd, tmp_path, port)
    updated = {**props, "env": {"TOKEN": Sensitive("two")}}
    case = ConformanceCase(Resource(RID, props), Resource(RID, updated), "web",
                           cleanup=lambda: _kill_all(state_dir))
    check_provider(provider, [case])
    assert not state_dir.exists() or list(state_dir.iterdir()) == []  # destroy removed it all


def test_spec_change_restarts_once_and_destroy_cleans_up(provider: SshProvider, sshd: Sshd,
                                                         tmp_path: Path) -> None:
    port, state_dir = free_port(), tmp_path / "services"
    desired = Resource(RID, _props(sshd, tmp_path, port))
    try:
        live = provider.apply(Change(RID, Action.CREATE, desired))
        svc = state_dir / "web"
        assert sorted(p.name for p in svc.iterdir()) == [
            "service.log", "status.json", "supervise.py", "supervisor.json"]
        assert "one" not in (svc / "supervisor.json").read_text()  # the secret stays off disk
        assert live.attributes["ssh_target"] == sshd.url
        assert provider.health(live).code.name == "HEALTHY"
        again = provider.read(desired, live)
        assert again is not None and provider.diff(desired, again).action is Action.NOOP
        changed = replace(desired, properties={**desired.properties,
                                               "env": {"TOKEN": Sensitive("two")}})
        change = provider.diff(changed, again)
        assert change.action is Action.UPDATE and "env.TOKEN" in change.reason
        after = provider.apply(change)
        assert after.attributes["pid"] != live.attributes["pid"]
        log = (svc / "service.log").read_text()
        assert log.count("started pid") == 2  # exactly one restart
        assert provider.diff(changed, provider.read(changed, after)).action is Action.NOOP
        provider.apply(Change(RID, Action.DELETE, None, after))
        assert not svc.exists()
        assert not supervise.is_alive(after.attributes["pid"], after.private["create_time"])
        assert provider.read(changed, None) is None
    finally:
        _kill_all(state_dir)


def test_port_held_by_another_process_fails_the_start(provider: SshProvider, sshd: Sshd,
                                                      tmp_path: Path) -> None:
    port, state_dir = free_port(), tmp_path / "services"
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    # a command that listens nowhere: the check answers (the squatter), the owner does not
    props = _props(sshd, tmp_path, port, command=[PY, "-c", "import time; time.sleep(60)"],
                   health={"tcp": {"port": port}, "grace_period": 0.5, "interval": 0.1,
                           "failure_threshold": 2})
    try:
        with pytest.raises(ProviderError) as err:
            provider.apply(Change(RID, Action.CREATE, Resource(RID, props)))
        assert f"port {port} is held by pid {os.getpid()} (" in str(err.value)  # seen on the host
        assert "not by this service (pid " in str(err.value)
        assert not list(state_dir.glob("*/status.json"))  # stopped, nothing left running
    finally:
        squatter.close()
        _kill_all(state_dir)
