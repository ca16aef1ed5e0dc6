"""Health probes and check judgement against a real HTTP server and sockets."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from driftless.health import (
    CommandProbe,
    HealthCheck,
    HttpProbe,
    ProbeResult,
    TcpProbe,
    assess,
    wait_healthy,
)
from driftless.model import Health, HealthCode


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code = 503 if self.path == "/down" else 200
        body = b"hello driftless" if code == 200 else b"nope"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_probe_passes_on_status_and_body(http_base: str) -> None:
    result = HttpProbe(f"{http_base}/", status=200, contains="driftless").check(timeout=2)
    assert result.ok, result.message
    assert "status 200" in result.message


@pytest.mark.parametrize(
    ("path", "status", "contains", "expect"),
    [
        ("/down", None, None, "status 503, expected 2xx/3xx"),
        ("/", 204, None, "status 200, expected 204"),
        ("/", None, "absent-text", "does not contain 'absent-text'"),
    ],
    ids=["server-error", "wrong-status", "missing-body-text"],
)
def test_http_probe_failures_say_why(
    http_base: str, path: str, status: int | None, contains: str | None, expect: str
) -> None:
    result = HttpProbe(f"{http_base}{path}", status=status, contains=contains).check(timeout=2)
    assert not result.ok
    assert expect in result.message


def test_http_probe_refused_connection() -> None:
    result = HttpProbe(f"http://127.0.0.1:{_closed_port()}/").check(timeout=1)
    assert not result.ok
    assert "connection refused" in result.message


def test_tcp_probe_open_and_closed() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert TcpProbe("127.0.0.1", port).check(timeout=1).ok
    closed = TcpProbe("127.0.0.1", _closed_port()).check(timeout=1)
    assert not closed.ok
    assert closed.message.startswith("tcp 127.0.0.1:")


def test_command_probe_exit_codes_and_timeout() -> None:
    ok = CommandProbe((sys.executable, "-c", "pass")).check(timeout=5)
    bad = CommandProbe((sys.executable, "-c", "import sys; sys.exit('db not ready')"))
    slow = CommandProbe((sys.executable, "-c", "import time; time.sleep(5)"))
    missing = CommandProbe(("/nonexistent/probe",))
    assert ok.ok
    failed = bad.check(timeout=5)
    assert not failed.ok and "exit 1" in failed.message and "db not ready" in failed.message
    assert "timed out" in slow.check(timeout=0.3).message
    assert "cannot run" in missing.check(timeout=1).message


class _Scripted:
    """A probe whose answers are given in advance (judgement is under test)."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.calls = 0

    def describe(self) -> str:
        return "scripted"

    def check(self, *, timeout: float) -> ProbeResult:
        ok = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return ProbeResult(ok, f"attempt {self.calls} {'ok' if ok else 'failed'}")


def _alive() -> Health | None:
    return None


def test_assess_is_progressing_in_grace_and_degraded_after() -> None:
    probe = _Scripted([False])
    check = HealthCheck((probe,), grace_period=60, interval=0.01, failure_threshold=2)
    assert assess(check, started_at=time.time(), alive=_alive).code is HealthCode.PROGRESSING
    late = assess(check, started_at=time.time() - 120, alive=_alive)
    assert late.code is HealthCode.DEGRADED
    assert late.message.endswith("failed")


def test_assess_needs_success_threshold_in_a_row() -> None:
    probe = _Scripted([True, False, True, True])
    check = HealthCheck((probe,), grace_period=0, interval=0.01, success_threshold=2,
                        failure_threshold=3)
    assert assess(check, started_at=0, alive=_alive).code is HealthCode.HEALTHY
    assert probe.calls == 4


def test_assess_reports_a_dead_process_before_probing() -> None:
    probe = _Scripted([True])
    gone = Health(HealthCode.MISSING, "gone")
    assert assess(HealthCheck((probe,)), started_at=0, alive=lambda: gone) == gone
    assert probe.calls == 0


def test_wait_healthy_gives_up_after_grace_and_failure_threshold() -> None:
    probe = _Scripted([False])
    check = HealthCheck((probe,), grace_period=0.3, interval=0.05, failure_threshold=3)
    began = time.time()
    result = wait_healthy(check, started_at=began, alive=_alive)
    assert result.code is HealthCode.DEGRADED
    assert "0.3s grace period" in result.message and "failed" in result.message
    assert time.time() - began >= 0.3


def test_wait_healthy_returns_once_healthy() -> None:
    probe = _Scripted([False, False, True])
    check = HealthCheck((probe,), grace_period=5, interval=0.01)
    assert wait_healthy(check, started_at=time.time(), alive=_alive).code is HealthCode.HEALTHY
    assert probe.calls == 3
