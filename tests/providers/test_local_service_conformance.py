"""local:service passes the provider conformance suite with a real HTTP server."""

from __future__ import annotations

import sys
from pathlib import Path

from driftless.model import Resource, ResourceId, Sensitive
from driftless.providers.local import LocalProvider, supervise
from driftless.providers.testing import ConformanceCase, check_provider
from servers import free_port


def _kill_all(state_dir: Path) -> None:
    for status_file in state_dir.glob("*/status.json"):
        status = supervise.load_status(status_file)
        if status:
            supervise.stop(status, stop_timeout=0.5)


def test_service_conformance(tmp_path: Path) -> None:
    port, state_dir = free_port(), tmp_path / "services"
    rid = ResourceId("local", "service", "conf")
    props = {
        "command": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        "cwd": str(tmp_path), "state_dir": str(state_dir), "stop_timeout": 2,
        "env": {"TOKEN": Sensitive("one")},
        "health": {"tcp": {"port": port}, "grace_period": 3, "interval": 0.1},
    }
    updated = {**props, "env": {"TOKEN": Sensitive("two")}}
    case = ConformanceCase(Resource(rid, props), Resource(rid, updated), "conf",
                           cleanup=lambda: _kill_all(state_dir))
    check_provider(LocalProvider(), [case])
    assert not list(state_dir.glob("*/status.json"))
