"""The quickstart example end to end through the real CLI: serve, no-op, restart once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from servers import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"




def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "driftless", *args], cwd=project,
                          capture_output=True, text=True, timeout=120, check=False)


def _child_pid(base: Path) -> int:
    return int(json.loads((base / "services/web/status.json").read_text())["child_pid"])


def _mtimes(base: Path) -> dict[str, int]:
    """mtime of every managed file (the service's own run files excluded)."""
    return {str(p): p.stat().st_mtime_ns for p in base.rglob("*")
            if p.is_file() and "services" not in p.parts}


def test_quickstart_serves_restarts_once_and_destroys(tmp_path: Path) -> None:
    project, base, port = tmp_path / "quickstart", tmp_path / "run", free_port()
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".driftless"))
    v = ["--var", f"port={port}", "--var", f"base_dir={base}"]
    try:
        first = _cli(project, "apply", "--auto-approve", *v)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Hello from driftless" in httpx.get(f"http://127.0.0.1:{port}/").text
        pid = _child_pid(base)
        again = _cli(project, "plan", "--detailed-exitcode", *v)
        assert again.returncode == 0 and "No changes" in again.stdout
        assert "demo-token-not-a-secret" not in first.stdout + again.stdout
        mtimes = _mtimes(base)
        twice = _cli(project, "apply", "--auto-approve", *v)
        assert twice.returncode == 0 and "No changes" in twice.stdout
        assert _mtimes(base) == mtimes, "a no-op apply touched files"
        assert _child_pid(base) == pid, "a no-op apply restarted the service"
        for f in (project / ".driftless").rglob("*"):  # state.db, its WAL, the cache
            assert not f.is_file() or b"demo-token-not-a-secret" not in f.read_bytes(), f
        changed = _cli(project, "apply", "--auto-approve", *v, "--var", "greeting=Hi v2")
        assert changed.returncode == 0, changed.stdout + changed.stderr
        assert "<h1>Hi v2</h1>" in httpx.get(f"http://127.0.0.1:{port}/").text
        assert _child_pid(base) != pid
        log = (base / "services/web/service.log").read_text()
        assert log.count("] started pid ") == 2
    finally:
        done = _cli(project, "destroy", "--auto-approve", *v)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not (base / "services/web/status.json").exists()
