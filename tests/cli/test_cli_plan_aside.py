"""A large plan applied without a question to a pipe is printed by a forked child
while the apply starts (``cli.verbs._plan_aside``, ``model.background.aside``):
the output is the very output of a plan printed first, in the same order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import write_project
from driftless.cli.verbs import ASIDE_MOST
from driftless.model import background as bg


def _apply(root: Path, *, background: bool) -> str:
    n = ASIDE_MOST + 50
    write_project(root, {"f": {
        "type": "local:file", "count": n,
        "properties": {"path": f"{root}/out/f${{count.index}}.txt",
                       "content": "file ${count.index}\n", "make_parents": True}}})
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("CI", None)
    env[bg.DISABLE_ENV] = "1" if background else "0"
    done = subprocess.run([sys.executable, "-c", _WATCHED, "-C", str(root), "apply",
                           "--auto-approve"],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    assert len(list((root / "out").iterdir())) == n
    # the plan went to a child made while the lock was held (its renewer asleep)
    assert done.stderr == ("printed by a child\n" if background else "")
    return done.stdout.replace(str(root), "<root>")


# the CLI, telling on stderr when the plan was put aside to a forked child
_WATCHED = """
import contextlib, sys
from driftless.cli import verbs
from driftless.model import background as bg
real = verbs.aside
@contextlib.contextmanager
def watched(show):
    with real(show):
        if bg._REGISTRY.children:
            sys.stderr.write("printed by a child\\n")
        yield
verbs.aside = watched
sys.argv = ["driftless", *sys.argv[1:]]
from driftless.cli import main
main()
"""


def test_a_plan_printed_aside_reads_as_one_printed_first(tmp_path: Path) -> None:
    aside = _apply(tmp_path / "a", background=True)
    first = _apply(tmp_path / "b", background=False)
    assert aside == first
    lines = aside.splitlines()
    assert lines[-2].startswith("Plan: 1050 to create") and lines[-1].startswith("Apply: 1050")
