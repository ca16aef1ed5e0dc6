"""podman and the test image, shared by tests/containers' conftest and tests."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Images:
    """Where the test image lives: ``ref`` (by tag) and ``by_digest``."""

    registry: str
    ref: str
    by_digest: str


def need(tool: str) -> str:
    found = shutil.which(tool)
    assert found, f"{tool} is not installed: run scripts/test-deps.sh (as root)"
    return found


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run podman with the session's configuration (set in the environment)."""
    proc = subprocess.run([need("podman"), *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {proc.stderr}")
    return proc
