"""Locks between concurrent applies, and kill -9 at random points mid-apply."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

from cli_helpers import files, popen, run, write_project
from driftless.model import LockInfo
from driftless.state.sqlite import from_url


def _slow_project(root: Path, n_files: int, sleep: float) -> None:
    res: dict[str, Any] = files(root, n_files)
    res["slow"] = {"type": "local:command",
                   "properties": {"command": f"sleep {sleep}; echo done > {root}/out/slow.done"},
                   "depends_on": ["f0"]}
    res["after"] = {"type": "local:file", "depends_on": ["slow"],
                    "properties": {"path": str(root / "out" / "after.txt"), "content": "after\n"}}
    write_project(root, res)


def test_two_concurrent_applies_one_proceeds_other_names_holder(tmp_path: Path) -> None:
    _slow_project(tmp_path, 2, 3)
    first = popen(tmp_path, "apply", "--auto-approve")
    time.sleep(1.5)
    second = run(tmp_path, "apply", "--auto-approve")
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert "locked by" in second.stderr and "(apply" in second.stderr
    assert "for " in second.stderr and "lease ends in" in second.stderr
    assert "Traceback" not in second.stderr


def test_lock_of_a_dead_holder_is_taken_after_its_lease(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1))
    backend = from_url("sqlite:///.driftless/state.db", tmp_path)
    stale = LockInfo("dead", "ghost@nowhere", "apply", time.time() - 120, time.time() - 1, 999999)
    backend.lock("main", stale)
    backend.close()
    out = run(tmp_path, "apply", "--auto-approve")
    assert out.returncode == 0, out.stderr
    live = LockInfo.new("apply", lease=60)
    backend = from_url("sqlite:///.driftless/state.db", tmp_path)
    backend.lock("main", live)
    held = run(tmp_path, "apply", "--auto-approve")
    assert held.returncode == 1 and "locked by" in held.stderr
    forced = run(tmp_path, "state", "unlock", "main", "--force")
    assert forced.returncode == 0 and "unlocked" in forced.stdout
    assert backend.lock_info("main") is None
    history = run(tmp_path, "history", "main", "--state-dir", ".", "--json", check=True).stdout
    assert "force-unlock" in history and "forced unlock" in history
    # plain `driftless history` (the agent's default state dir) shows it too
    plain = run(tmp_path, "history", "main", "--json", check=True).stdout
    assert "force-unlock" in plain and "forced unlock" in plain


def test_kill_9_at_random_points_never_loses_track(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    for trial in range(20):
        root = tmp_path / f"t{trial}"
        _slow_project(root, 12, 0.4)
        proc = popen(root, "apply", "--auto-approve")
        time.sleep(rng.uniform(0.2, 1.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        on_disk = sorted(p.name for p in (root / "out").glob("*.txt")) if (root / "out").exists() \
            else []
        again = run(root, "apply", "--auto-approve")
        assert again.returncode == 0, f"trial {trial}: {again.stdout}\n{again.stderr}"
        assert run(root, "plan", "--detailed-exitcode").returncode == 0, f"trial {trial}"
        managed = run(root, "state", "list", check=True).stdout
        for name in on_disk:
            assert f"local:file/{name.removesuffix('.txt')}" in managed, (trial, name)
        assert (root / "out" / "slow.done").exists() and (root / "out" / "after.txt").exists()


def test_an_apply_that_loses_its_lock_stops_and_exits_1(tmp_path: Path) -> None:
    """Force-unlocked while a slow command runs, and the lock taken by someone else:
    the apply says "lock lost", exits 1 and starts nothing after the command."""
    after = tmp_path / "after.txt"
    write_project(tmp_path, {
        "slow": {"type": "local:command", "properties": {
            "command": ["sleep", "3"], "creates": str(tmp_path / "slow.done")}},
        "after": {"type": "local:file", "depends_on": ["slow"], "properties": {
            "path": str(after), "content": "x"}},
    })
    first = popen(tmp_path, "apply", "--auto-approve")
    time.sleep(1.5)
    assert run(tmp_path, "state", "unlock", "main", "--force").returncode == 0
    thief = from_url("sqlite:///.driftless/state.db", tmp_path)
    thief.lock("main", LockInfo.new("apply", lease=60))
    out, err = first.communicate(timeout=60)
    assert first.returncode == 1, out + err
    assert "lock lost" in err and "Traceback" not in err
    assert not after.exists()
