"""How the ``driftless`` executable ends (``driftless.cli.script``).

After a one-shot command (an ordinary plan, apply or destroy) the process ends
without the interpreter's teardown: output flushed, exit handlers run, the exit
code kept, but nothing freed object by object. Anything else, or a command that
left a thread running, ends the ordinary way. Each probe runs ``script()`` in a
child process with an audit hook that tells whether the interpreter's teardown
ran (it raises ``cpython.PyInterpreterState_Clear``), and an exit handler that
prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import files, write_project

PROBE = """\
import atexit, os, sys, threading, time
marks = sys.argv[1]
TORN = ("cpython.PyInterpreterState_Clear", "cpython._PySys_ClearAuditHooks")
def teardown(event, args, _open=os.open, _close=os.close, _path=marks + ".torn",
             _flags=os.O_WRONLY | os.O_CREAT, _torn=TORN):  # module globals are gone by then
    if event in _torn:  # raised by the interpreter's teardown (names differ by version)
        _close(_open(_path, _flags))
sys.addaudithook(teardown)
def printed():
    print("printed by an exit handler")  # block-buffered into a pipe: flushed after it
    open(marks + ".atexit", "w").close()
atexit.register(printed)
if sys.argv[2] == "thread":
    def late():
        time.sleep(0.5)
        open(marks + ".thread", "w").close()
    threading.Thread(target=late).start()
sys.argv = ["driftless", *sys.argv[3:]]
from driftless.cli import script
script()
"""


def _probe(tmp_path: Path, *argv: str, thread: bool = False
           ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    marks = tmp_path / "mark"
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("CI", None)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(marks),
                           "thread" if thread else "-", "-C", str(tmp_path), *argv],
                          capture_output=True, text=True, env=env, timeout=120)
    seen = {p.suffix[1:] for p in tmp_path.glob("mark.*")}
    for p in tmp_path.glob("mark.*"):
        p.unlink()
    return proc, seen


def test_an_apply_ends_without_teardown_yet_prints_all_and_runs_exit_handlers(
        tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 3))
    proc, seen = _probe(tmp_path, "apply", "--auto-approve")
    assert proc.returncode == 0, proc.stderr
    assert seen == {"atexit"}  # no teardown: the finalizer never ran
    assert proc.stdout.endswith("Apply: 3 applied, 0 failed, 0 skipped.\n"
                                "printed by an exit handler\n")
    assert (tmp_path / "out" / "f2.txt").read_text() == "content 2\n"


def test_exit_codes_survive_the_quick_end(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 2))
    proc, seen = _probe(tmp_path, "plan", "--detailed-exitcode")
    assert (proc.returncode, seen) == (2, {"atexit"})
    assert "local:file/f1" in proc.stdout
    (tmp_path / "stacks" / "main" / "stack.yaml").write_text("resources: [\n")
    proc, seen = _probe(tmp_path, "plan")
    assert (proc.returncode, seen) == (1, {"atexit"})
    assert "stack.yaml" in proc.stderr and "Traceback" not in proc.stderr


def test_other_commands_end_the_ordinary_way(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1))
    proc, seen = _probe(tmp_path, "state", "list")
    assert proc.returncode == 0, proc.stderr
    assert seen == {"atexit", "torn"}


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1))
    proc, seen = _probe(tmp_path, "plan", thread=True)
    assert proc.returncode == 0, proc.stderr
    assert seen == {"atexit", "thread", "torn"}  # joined, then the ordinary teardown
    assert proc.stdout.endswith("printed by an exit handler\n")
