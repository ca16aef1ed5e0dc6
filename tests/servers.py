"""Real servers the tests start on loopback, shared by every test folder.

``tests/`` is on ``sys.path`` (it holds the root conftest), so any test can
``from servers import free_port, moto_server``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["free_port", "moto_server", "reset_moto"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer on {url} within {timeout}s; see {log}")


@contextmanager
def moto_server(log_dir: Path, *, env: Mapping[str, str] | None = None,
                timeout: float = 30.0, serial: bool = False) -> Iterator[str]:
    """Run ``moto_server`` (the AWS API) on a free loopback port; yield its URL.

    ``env`` adds variables for the server (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``
    to make it enforce IAM). ``serial`` serves one request at a time, for tests
    that race on conditional writes (see ``serial_moto.py``). The server is
    stopped, killed if need be, on exit.
    """
    port = free_port()
    if serial:
        cmd = [sys.executable, str(Path(__file__).with_name("serial_moto.py")), str(port)]
    else:
        exe = Path(sys.executable).with_name("moto_server")
        cmd = [*([str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]),
               "-H", "127.0.0.1", "-p", str(port)]
    log = log_dir / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})},
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reset_moto(url: str) -> None:
    """Forget every resource moto holds (``POST /moto-api/reset``)."""
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10):
        pass
