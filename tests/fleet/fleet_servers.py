"""Start and stop a real etcd (Debian's etcd-server) on loopback.

``scripts/test-deps.sh`` installs it; a machine without it fails with that
hint instead of skipping.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from servers import free_port

__all__ = ["etcd_server"]


@contextmanager
def etcd_server(workdir: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Run a single-member etcd in ``workdir`` on free loopback ports; yield its URL."""
    exe = shutil.which("etcd")
    if exe is None:
        pytest.fail("etcd is not installed; run `sudo bash scripts/test-deps.sh` (make test does)",
                    pytrace=False)
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    log = workdir / "etcd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [exe, "--name", "fleet-test", "--data-dir", str(workdir / "data"),
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
             "--initial-cluster", f"fleet-test=http://127.0.0.1:{peer}",
             "--logger", "zap", "--log-level", "warn"],
            stdout=out, stderr=subprocess.STDOUT)
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


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"etcd exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.post(f"{url}/v3/kv/range", json={"key": "AA=="}, timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"etcd did not answer on {url} within {timeout}s; see {log}")
