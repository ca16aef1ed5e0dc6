"""Recovery after kill -9: delete intents, temp files, failing providers, live holders,
and a fast run of the kill -9 trials of ``bench.bench_crash``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from driftless.apply import runner
from driftless.errors import StateError
from driftless.model import LockInfo, ResourceId
from engine_helpers import engine, file_res, stack

ROOT = Path(__file__).resolve().parents[2]


def _applied(tmp_path: Path, n: int = 3) -> tuple[Any, Any]:
    eng = engine(tmp_path)
    desired = stack("s", [file_res(tmp_path / f"f{i}.txt", f"c{i}") for i in range(n)])
    assert eng.apply(eng.plan(desired), desired).ok
    return eng, desired


def _interrupt(eng: Any, address: str, action: str, **extra: Any) -> int:
    """A kill between intent and outcome: the intent is written, never finished."""
    snap = eng.backend.read("s")
    st = snap.resources[ResourceId.parse(address)]
    inputs = {} if action == "delete" else dict(st.inputs)
    intent = {"inputs": inputs, "prior": {"attributes": dict(st.attributes),
                                      "private": dict(st.private)},
              "prior_inputs": dict(st.inputs), **extra}
    return int(eng.backend.journal("s").begin(address, action, intent))


@pytest.mark.parametrize("gone", [True, False], ids=["object-gone", "object-still-there"])
def test_unfinished_delete_is_dropped_when_gone_and_kept_when_there(
        tmp_path: Path, gone: bool) -> None:
    eng, _ = _applied(tmp_path)
    _interrupt(eng, "local:file/f0_txt", "delete")
    if gone:
        (tmp_path / "f0.txt").unlink()
    notes = eng.recover("s")
    kept = ResourceId.parse("local:file/f0_txt") in eng.backend.read("s").resources
    assert kept is not gone, notes
    assert eng.backend.journal("s").entries() == []
    destroy = eng.plan(stack("s", []), destroy=True)
    assert eng.apply(destroy, stack("s", [])).ok
    assert not (tmp_path / "f0.txt").exists()


def test_delete_intent_of_an_old_journal_is_found_by_its_prior_path(tmp_path: Path) -> None:
    """Journals written before ``prior_inputs`` existed: the prior's path serves."""
    eng, _ = _applied(tmp_path)
    seq = _interrupt(eng, "local:file/f1_txt", "delete")
    journal = eng.backend.journal("s")
    journal.clear(seq)
    snap = eng.backend.read("s")
    st = snap.resources[ResourceId.parse("local:file/f1_txt")]
    journal.begin("local:file/f1_txt", "delete",
                  {"inputs": {}, "prior": {"attributes": dict(st.attributes), "private": {}}})
    eng.recover("s")
    assert ResourceId.parse("local:file/f1_txt") in eng.backend.read("s").resources


def test_apply_journals_prior_inputs_and_lock_for_a_delete(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng, desired = _applied(tmp_path)
    lock = LockInfo.new("apply", lease=60)
    eng.backend.lock("s", lock)
    seen: list[Any] = []
    real = runner.begin_all

    def spy(journal: Any, items: list[Any]) -> list[int]:
        seen.extend(items)
        return real(journal, items)

    monkeypatch.setattr(runner, "begin_all", spy)
    smaller = stack("s", desired.resources[1:])
    assert eng.apply(eng.plan(smaller), smaller).ok
    (_address, action, intent), = seen
    assert action == "delete" and intent["prior_inputs"]["path"] == str(tmp_path / "f0.txt")
    assert intent["lock"]["id"] == lock.id and intent["lock"]["pid"] == os.getpid()


def test_recovery_removes_temp_files_of_a_dead_writer_only(tmp_path: Path) -> None:
    eng, _ = _applied(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stray = tmp_path / f".f2.txt.{dead.stdout.strip()}.140.tmp"
    stray.write_text("half of a secret")
    link = tmp_path / f".f2.txt.{dead.stdout.strip()}.lnk"
    link.symlink_to("nowhere")
    busy = tmp_path / f".f2.txt.{os.getppid()}.7.tmp"  # a live writer's
    busy.write_text("in flight")
    _interrupt(eng, "local:file/f2_txt", "update")
    eng.recover("s")
    assert not stray.exists() and not os.path.lexists(link)
    assert busy.exists()


def test_a_provider_failure_in_recovery_names_the_entry_and_keeps_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng, _ = _applied(tmp_path)
    seq = _interrupt(eng, "local:file/f0_txt", "delete")
    provider = eng.providers.get("local")

    def broken(*_a: Any) -> None:
        raise KeyError("path")

    monkeypatch.setattr(provider, "read", broken)
    with pytest.raises(StateError) as err:
        eng.recover("s")
    text = str(err.value)
    assert f"journal entry {seq}" in text and "delete of local:file/f0_txt" in text
    assert "KeyError" in text
    assert [e.seq for e in eng.backend.journal("s").entries()] == [seq]
    monkeypatch.undo()
    eng.recover("s")
    assert eng.backend.journal("s").entries() == []


def test_recovery_refuses_entries_of_a_live_holder(tmp_path: Path) -> None:
    eng, _ = _applied(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = LockInfo.new("apply", lease=60)
        lock = {"id": holder.id, "who": holder.who, "pid": other.pid, "expires": holder.expires}
        _interrupt(eng, "local:file/f0_txt", "update", lock=lock)
        eng.backend.lock("s", LockInfo.new("apply", lease=60))  # after a forced unlock
        with pytest.raises(StateError, match="still running; refusing to adopt"):
            eng.recover("s")
        assert len(eng.backend.journal("s").entries()) == 1
    finally:
        other.kill()
        other.wait()
    eng.recover("s")  # once that holder is gone the entry is a crash to repair
    assert eng.backend.journal("s").entries() == []


def test_a_killed_holder_not_yet_reaped_is_gone_and_its_entries_adopted(
        tmp_path: Path) -> None:
    """kill -9 leaves a zombie until its parent reaps it (for good under a container's
    first process that reaps nothing): it acts on nothing, so its work is adopted."""
    eng, _ = _applied(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _zombie(dead.pid):
            time.sleep(0.01)
        assert _zombie(dead.pid)
        holder = LockInfo.new("apply", lease=60)
        lock = {"id": holder.id, "who": holder.who, "pid": dead.pid, "created": holder.created,
                "expires": holder.expires}
        _interrupt(eng, "local:file/f0_txt", "update", lock=lock)
        eng.backend.lock("s", LockInfo.new("apply", lease=60))
        eng.recover("s")
        assert eng.backend.journal("s").entries() == []
    finally:
        dead.wait()


def test_a_pid_taken_by_a_younger_process_is_not_the_holder(tmp_path: Path) -> None:
    eng, _ = _applied(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = LockInfo.new("apply", lease=60)
        lock = {"id": holder.id, "who": holder.who, "pid": other.pid,
                "created": holder.created - 3600, "expires": holder.expires}  # long before
        _interrupt(eng, "local:file/f0_txt", "update", lock=lock)
        eng.backend.lock("s", LockInfo.new("apply", lease=60))
        eng.recover("s")  # that pid is another, younger process: the holder is gone
        assert eng.backend.journal("s").entries() == []
    finally:
        other.kill()
        other.wait()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_crash", ROOT / "bench" / "bench_crash.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_crash"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("op", ["create", "update", "destroy", "replace"])
def test_kill_9_trials_leave_nothing_wedged_or_stray(tmp_path: Path, op: str) -> None:
    bench = _bench()
    start = time.monotonic()
    counts = bench.run_trials(op, 3, size=24, seed=11, base=tmp_path, duration=1.2)
    assert counts.trials == 3
    assert counts.wedged == counts.stray_temps == counts.orphans == 0, counts.failures
    assert counts.missing == 0, counts.failures
    assert time.monotonic() - start < 60
