"""The force-unlock scenario of issue 11, end to end through the CLI.

Apply A runs six slow ``local:command`` resources in a chain (each ~1 s; each
leaves a marker file and logs every start and end with the pid of the
driftless process that ran it). They have no ``creates`` guard on purpose: a
command run twice shows up in the log instead of being skipped. While A is in the middle,
an operator runs ``driftless state unlock main --force`` and apply B starts.

- A exits 1 saying "lock lost" and starts no command after the unlock.
- B never re-runs a command A ran and never adopts A's journal entries: while
  A still runs, B refuses them ("still running; refusing to adopt"); once A
  has stopped, B folds the outcomes A recorded (A records the outcome of the
  command it had in flight even after losing the lock, so that command is
  known to have run) and runs only what A never started.
- Once A is gone, an apply finishes the rest: every command ran exactly once
  in all, and plan is clean.
- ``driftless history`` shows the forced unlock.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import popen, run, write_project

STEPS = 6


def _project(root: Path, log: Path, *, gate: Path | None) -> None:
    """Six commands of ~1 s in a chain; with ``gate``, c2 runs until that file exists
    (at most 60 s), so A is surely still in it while B starts."""
    resources: dict[str, Any] = {}
    for i in range(1, STEPS + 1):
        marker = root / "markers" / f"c{i}.done"
        wait = (f"for _ in $(seq 600); do [ -e {gate} ] && break; sleep 0.1; done"
                if gate is not None and i == 2 else "sleep 1")
        resources[f"c{i}"] = {
            "type": "local:command",
            "properties": {
                "command": (f"mkdir -p {marker.parent}; echo start c{i} $PPID $(date +%s.%N) "
                            f">> {log}; {wait}; touch {marker}; "
                            f"echo end c{i} $PPID >> {log}")},
            **({"depends_on": [f"c{i - 1}"]} if i > 1 else {}),
        }
    write_project(root, resources)


def _starts(log: Path) -> list[tuple[str, int, float]]:
    """(command, driftless pid, start time) of every start in the log."""
    out = []
    for line in log.read_text().splitlines():
        word, name, pid, *rest = line.split()
        if word == "start":
            out.append((name, int(pid), float(rest[0])))
    return out


def _wait_for_start(log: Path, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and any(s[0] == name for s in _starts(log)):
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never started: {log.read_text() if log.exists() else ''}")


@pytest.mark.parametrize("gated", [False, True], ids=["b-when-it-may", "b-while-a-runs"])
def test_force_unlock_mid_apply(tmp_path: Path, gated: bool) -> None:
    """``gated``: A's command in flight at the unlock (c2) runs until B has finished,
    so B surely meets A alive. Ungated, B may get there before or after A stopped."""
    log, gate = tmp_path / "runs.log", tmp_path / "gate"
    _project(tmp_path, log, gate=gate if gated else None)
    a = popen(tmp_path, "apply", "--auto-approve")
    _wait_for_start(log, "c2")
    unlock = run(tmp_path, "state", "unlock", "main", "--force")
    unlocked_at = time.time()
    assert unlock.returncode == 0 and "unlocked" in unlock.stdout, unlock.stderr
    b = popen(tmp_path, "apply", "--auto-approve")
    if gated:
        b_out, b_err = b.communicate(timeout=120)
        assert a.poll() is None, "A must still be running its command"
        gate.touch()
    a_out, a_err = a.communicate(timeout=120)
    if not gated:
        b_out, b_err = b.communicate(timeout=120)

    assert a.returncode == 1, a_out + a_err
    assert "lock lost" in a_err and "Traceback" not in a_err, a_err
    a_starts = [s for s in _starts(log) if s[1] == a.pid]
    assert a_starts and all(at <= unlocked_at for _, _, at in a_starts), (
        f"A started a command after its lock was force-unlocked: {a_starts}, "
        f"unlocked at {unlocked_at}")

    assert "Traceback" not in b_err, b_err
    a_ran = {name for name, _, _ in a_starts}
    b_ran = {name for name, pid, _ in _starts(log) if pid == b.pid}
    assert not a_ran & b_ran, f"B re-ran A's commands {sorted(a_ran & b_ran)}"
    if gated:
        assert b.returncode == 1, b_out + b_err
    if b.returncode != 0:
        assert "still running; refusing to adopt its work" in b_err, b_out + b_err
        assert not b_ran
    assert "adopted after an interrupted" not in b_out + b_err, "B adopted A's entries"

    # A is gone now: the next apply recovers A's unfinished entry and runs the rest.
    done = run(tmp_path, "apply", "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr
    counts = Counter(name for name, _, _ in _starts(log))
    assert counts == Counter({f"c{i}": 1 for i in range(1, STEPS + 1)}), (
        f"a command ran twice or never: {dict(counts)}\n{log.read_text()}")
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0

    history = json.loads(run(tmp_path, "history", "main", "--json", check=True).stdout)
    assert any("force-unlock" in json.dumps(h) and "forced unlock" in json.dumps(h)
               for h in history["history"]), history
    print(f"A ran {sorted(a_ran)} then exit {a.returncode}; B exit {b.returncode}, "
          f"ran {sorted(b_ran)}; runs per command {dict(counts)}")
