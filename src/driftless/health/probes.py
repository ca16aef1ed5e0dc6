"""Health probes: one HTTP request, one TCP connect, one command run.

Each probe does exactly one attempt of real I/O (network or a subprocess)
and reports a ``ProbeResult``; the thresholds, grace period and retries live
in ``driftless.health.checks``. Messages never include response bodies in
full, only a short excerpt, because a body may echo secrets.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import field
from typing import Protocol

import httpx

from driftless.records import record

__all__ = ["CommandProbe", "HttpProbe", "Probe", "ProbeResult", "TcpProbe"]

_EXCERPT = 120


@record(slots=True)
class ProbeResult:
    """One attempt: passed or not, with a one-line reason."""

    ok: bool
    message: str


class Probe(Protocol):
    """Anything that can be tried once within a timeout."""

    def describe(self) -> str:
        """What is probed, for messages (``GET http://...``)."""

    def check(self, *, timeout: float) -> ProbeResult:
        """Try once."""


@record(slots=True)
class HttpProbe:
    """GET ``url``; passes on ``status`` (any 2xx/3xx when None) and ``contains``."""

    url: str
    status: int | None = None
    contains: str | None = None

    def describe(self) -> str:
        """``GET <url>``."""
        return f"GET {self.url}"

    def check(self, *, timeout: float) -> ProbeResult:
        """One request; redirects are not followed (a redirect is an answer)."""
        # Plain http has no TLS: no verifying SSL context to build (its CA bundle
        # costs ~70 ms of CPU per probe); https verifies as always.
        verify = self.url.lower().startswith("https:")
        try:
            response = httpx.get(self.url, timeout=timeout, verify=verify)
        except httpx.HTTPError as exc:
            return ProbeResult(False, f"{self.describe()}: {_http_reason(exc)}")
        return self._judge(response)

    def _judge(self, response: httpx.Response) -> ProbeResult:
        code = response.status_code
        status_ok = code == self.status if self.status is not None else 200 <= code < 400
        if not status_ok:
            want = self.status if self.status is not None else "2xx/3xx"
            return ProbeResult(False, f"{self.describe()}: status {code}, expected {want}")
        if self.contains is not None and self.contains not in response.text:
            return ProbeResult(
                False, f"{self.describe()}: status {code} but the body does not contain "
                f"{_excerpt(self.contains)!r}",
            )
        return ProbeResult(True, f"{self.describe()}: status {code}")


def _http_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return f"{type(exc).__name__}: {_excerpt(str(exc))}"


@record(slots=True)
class TcpProbe:
    """Connect to ``host:port``; passes when the connection is accepted."""

    host: str
    port: int

    def describe(self) -> str:
        """``tcp <host>:<port>``."""
        return f"tcp {self.host}:{self.port}"

    def check(self, *, timeout: float) -> ProbeResult:
        """One connect, closed at once."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return ProbeResult(True, f"{self.describe()}: connected")
        except TimeoutError:
            return ProbeResult(False, f"{self.describe()}: timed out")
        except OSError as exc:
            return ProbeResult(False, f"{self.describe()}: {exc.strerror or exc}")


@record(slots=True)
class CommandProbe:
    """Run ``argv``; passes on exit code 0."""

    argv: tuple[str, ...]
    cwd: str | None = None
    env: dict[str, str] | None = field(default=None, compare=False)

    def describe(self) -> str:
        """``command <argv0>``."""
        return f"command {self.argv[0] if self.argv else '(empty)'}"

    def check(self, *, timeout: float) -> ProbeResult:
        """One run; output kept only as a short excerpt of its last line."""
        try:
            done = subprocess.run(
                list(self.argv), cwd=self.cwd, env=self.env, capture_output=True,
                timeout=timeout, check=False, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return ProbeResult(False, f"{self.describe()}: timed out after {timeout:g}s")
        except OSError as exc:
            return ProbeResult(False, f"{self.describe()}: cannot run: {exc.strerror or exc}")
        if done.returncode == 0:
            return ProbeResult(True, f"{self.describe()}: exit 0")
        last = _last_line(done.stderr or done.stdout)
        tail = f" ({last})" if last else ""
        return ProbeResult(False, f"{self.describe()}: exit {done.returncode}{tail}")


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return _excerpt(lines[-1]) if lines else ""


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"
