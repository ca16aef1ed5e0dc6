"""Write small driftless projects and run the real CLI on them as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CLI = [sys.executable, "-m", "driftless"]


def write_project(
    root: Path, resources: dict[str, Any], *, variables: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """A one-stack project (stack ``main``) at ``root``."""
    (root / "stacks" / "main").mkdir(parents=True, exist_ok=True)
    project = {"project": "t", "state": "sqlite:///.driftless/state.db", "stacks": ["stacks/main"]}
    project.update(extra or {})
    (root / "driftless.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    stack = {"variables": variables or {}, "resources": resources}
    (root / "stacks" / "main" / "stack.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return root


def run(
    root: Path, *args: str, check: bool = False, timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``driftless -C root ARGS`` with captured text output."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("CI", None)
    proc = subprocess.run([*CLI, "-C", str(root), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"driftless {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def popen(root: Path, *args: str) -> subprocess.Popen[str]:
    """Start ``driftless -C root ARGS`` without waiting."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("CI", None)
    return subprocess.Popen([*CLI, "-C", str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def files(root: Path, n: int, *, prefix: str = "f") -> dict[str, Any]:
    """N local:file resources under root/out."""
    out = root / "out"
    return {f"{prefix}{i}": {"type": "local:file",
                             "properties": {"path": str(out / f"{prefix}{i}.txt"),
                                            "content": f"content {i}\n", "make_parents": True}}
            for i in range(n)}
