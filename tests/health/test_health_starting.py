"""While a new process comes up, its health is probed often; after, at ``interval``.

A real TCP port that starts listening after a few probes stands in for a
server that needs a moment to bind; ``time.sleep`` is recorded (not slowed)
so the test checks which pauses ``wait_healthy`` asked for, not how long
anything took.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from driftless.health import HealthCheck, ProbeResult, TcpProbe, wait_healthy
from driftless.health import checks as checks_module
from driftless.model import Health, HealthCode


class _LateServer:
    """A port that accepts connections only from the ``after``-th probe on."""

    def __init__(self, after: int) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.after, self.calls = after, 0
        self.probe = TcpProbe("127.0.0.1", self.port)

    def check(self, *, timeout: float) -> ProbeResult:
        self.calls += 1
        if self.calls == self.after:
            self.sock.listen()
        return self.probe.check(timeout=timeout)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    asked: list[float] = []
    monkeypatch.setattr(checks_module.time, "sleep", asked.append)
    yield asked


def _alive() -> Health | None:
    return None


def test_probes_quickly_until_the_first_success_in_grace(pauses: list[float]) -> None:
    server = _LateServer(after=4)
    check = HealthCheck((server,), grace_period=30, interval=2.0)  # type: ignore[arg-type]
    assert wait_healthy(check, started_at=time.time(), alive=_alive).code is HealthCode.HEALTHY
    assert pauses == [0.05, 0.05, 0.05]
    server.sock.close()


def test_thresholds_after_the_first_success_keep_the_interval(pauses: list[float]) -> None:
    server = _LateServer(after=2)
    check = HealthCheck((server,), grace_period=30, interval=2.0,  # type: ignore[arg-type]
                        success_threshold=3)
    assert wait_healthy(check, started_at=time.time(), alive=_alive).code is HealthCode.HEALTHY
    assert pauses == [0.05, 2.0, 2.0]
    server.sock.close()


def test_after_the_grace_period_failures_are_counted_at_interval(pauses: list[float]) -> None:
    server = _LateServer(after=100)
    check = HealthCheck((server,), grace_period=0, interval=2.0,  # type: ignore[arg-type]
                        failure_threshold=3)
    assert wait_healthy(check, started_at=time.time() - 1, alive=_alive).code is \
        HealthCode.DEGRADED
    assert pauses == [2.0, 2.0]
    server.sock.close()
