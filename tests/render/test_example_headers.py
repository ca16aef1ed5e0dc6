"""The commands each example's header shows work as written (those that need
no cloud: validate and render; the AWS ones are run by tests/aws)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^#\s+((?:[A-Z_]+=\S+\s+)*)driftless (-C examples/\S+ (?:validate|render) .*?)"
                  r"\s*(?:#.*)?$")


def _commands() -> list[tuple[dict[str, str], list[str]]]:
    out = []
    for project in sorted((REPO / "examples").glob("*/driftless.yaml")):
        for line in project.read_text().splitlines():
            m = LINE.match(line)
            if m:
                env = dict(kv.split("=", 1) for kv in m.group(1).split())
                out.append((env, shlex.split(m.group(2))))
    return out


COMMANDS = _commands()


@pytest.mark.parametrize(("env", "args"), COMMANDS, ids=[" ".join(a) for _, a in COMMANDS])
def test_header_command_works_as_written(env: dict[str, str], args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "driftless", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"


def test_every_example_header_shows_a_command() -> None:
    shown = {a[1] for _, a in COMMANDS}
    assert len(shown) >= 3, shown  # quickstart points at make demo; synkti needs moto
