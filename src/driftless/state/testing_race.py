"""The race suite of the state backend conformance checks: processes fight for one lock.

I/O: forks worker processes (``multiprocessing``, fork start method, so
``make_backend`` needs no pickling), creates and removes one marker file in
the given directory, and talks to the store only through the backends
``make_backend`` returns. ``check_lock_race_processes`` is re-exported by
``driftless.state.testing``; every backend's tests call it.

Each of ``workers`` processes runs ``rounds`` rounds on one stack. A round
takes the lock the way the CLI does (``lease.try_lock``: a dead holder on
this host is taken over by compare-and-set), creates the marker with
``O_EXCL`` while it holds the lock (a second holder at the same time shows
up as a failed create: a double hold), increments a counter in the stack's
outputs by read → write, removes the marker and lets go. Kinds of round:

- ``dead``: instead of letting go, turn our lock into one of a process on
  this host that no longer runs (a pid that does not exist), which the next
  taker must take over without two takers both winning;
- ``expired``: leave an expired lock of a holder elsewhere behind;
- ``forced``: an operator force-unlocks our live lock after we read; our
  journal write and state write must then be refused ("lock lost").

Zero double holds and zero lost updates: the final counter equals the number
of accepted writes, and every forced round's writes were refused.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from driftless.errors import LockHeld, StateConflict, StateError
from driftless.model import LockInfo
from driftless.state.base import StateBackend
from driftless.state.lease import try_lock

__all__ = ["check_lock_race_processes"]

MakeBackend = Callable[[], StateBackend]
_KINDS = ("normal", "normal", "dead", "normal", "normal", "expired", "normal", "normal",
          "forced", "normal")
_TAKE_TIMEOUT = 120.0


def _dead_pid() -> int:
    """A pid no process on this host has now (counting down from far above the usual ones)."""
    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid -= 1
    return pid


def _take(backend: StateBackend, stack: str, *, lease: float) -> LockInfo:
    """Retry quickly (a race, not a polite client) until the lock is ours."""
    deadline = time.monotonic() + _TAKE_TIMEOUT
    while True:
        info = LockInfo.new("race", lease=lease)
        try:
            try_lock(backend, stack, info)
            return info
        except LockHeld:
            if time.monotonic() > deadline:
                raise
            time.sleep(random.uniform(0.002, 0.01))


def _mark(marker: Path) -> bool:
    """Create the marker exclusively; False when another holder has it (a double hold)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _increment(backend: StateBackend, stack: str, tally: Counter[str]) -> None:
    """Read → write the counter + 1; a refusal counts by its kind."""
    snap = backend.read(stack)
    time.sleep(random.uniform(0, 0.002))  # widen the read-write window a little
    try:
        backend.write(stack, snap.next(outputs={"counter": int(snap.outputs.get("counter", 0))
                                                + 1}))
        tally["ok"] += 1
    except StateConflict:
        tally["conflict"] += 1  # someone wrote while we held the lock
    except StateError as exc:
        tally["refused"] += 1
        tally[f"refused: {str(exc)[:120]}"] += 1  # what refused it, for the failure message


def _held_round(backend: StateBackend, operator: StateBackend, stack: str, marker: Path,
                kind: str, tally: Counter[str]) -> None:
    """A normal round; ``dead`` and ``expired`` leave that kind of holder behind."""
    info = _take(backend, stack, lease=30.0)
    if not _mark(marker):
        tally["double"] += 1
        backend.unlock(stack, info.id)
        return
    try:
        _increment(backend, stack, tally)
    finally:
        marker.unlink()
    if kind == "dead":
        # Same lock id: re-locking turns our lease into a dead process's, atomically.
        operator.lock(stack, replace(info, pid=_dead_pid()))
        tally["dead_planted"] += 1
    elif kind == "expired":
        operator.lock(stack, replace(info, who="ghost@elsewhere", pid=0,
                                     created=time.time() - 60, expires=time.time() - 1))
        tally["expired_planted"] += 1
    else:
        backend.unlock(stack, info.id)


def _forced_round(backend: StateBackend, operator: StateBackend, stack: str,
                  tally: Counter[str]) -> None:
    """Our live lock is force-unlocked after we read: both our writes must be refused."""
    info = _take(backend, stack, lease=30.0)
    snap = backend.read(stack)
    operator.unlock(stack, info.id, force=True)
    time.sleep(random.uniform(0.0, 0.02))  # others may take the lock and write meanwhile
    try:
        backend.journal(stack).begin("race.counter", "update", {"round": "forced"})
        tally["journal_unfenced"] += 1
    except StateError as exc:
        tally["journal_fenced" if "lock lost" in str(exc) else "journal_other"] += 1
    try:
        backend.write(stack, snap.next(outputs={"counter": -1}))
        tally["unfenced"] += 1
    except StateError as exc:
        tally["fenced" if "lock lost" in str(exc) else "unfenced"] += 1
    with contextlib.suppress(StateError):  # someone else holds it by now: that is the point
        backend.unlock(stack, info.id)


def _worker(make_backend: MakeBackend, stack: str, worker: int, rounds: int, marker: Path,
            results: Any) -> None:
    """One racing process: its rounds, then its tally on the queue."""
    tally: Counter[str] = Counter()
    backend, operator = make_backend(), make_backend()
    try:
        for r in range(rounds):
            kind = _KINDS[(r + 3 * worker) % len(_KINDS)]
            tally[kind] += 1
            if kind == "forced":
                _forced_round(backend, operator, stack, tally)
            else:
                _held_round(backend, operator, stack, marker, kind, tally)
    except BaseException as exc:  # the parent must hear of it, not hang
        tally[f"crash: {type(exc).__name__}: {exc}"] += 1
    finally:
        backend.close()
        operator.close()
        results.put(dict(tally))


def check_lock_race_processes(make_backend: MakeBackend, workdir: Path, *, workers: int = 4,
                              rounds: int = 50, timeout: float = 300.0) -> Counter[str]:
    """``workers`` processes times ``rounds`` rounds on one stack: no double hold, no lost
    update, every write of a force-unlocked holder refused. Returns the tally.

    Never hangs: racers still running after ``timeout`` seconds are killed and the
    check fails, naming how many rounds finished. ``make_backend`` runs in each
    racer, after the fork, so no connection is shared across processes.
    """
    stack = f"conf-race-{uuid.uuid4().hex[:8]}"
    marker = workdir / f"{stack}.holder"
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(make_backend, stack, w, rounds, marker, results))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    total: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    try:
        for done in range(len(procs)):
            try:
                total.update(results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"the race did not finish in {timeout:.0f}s: {done} of {workers} racers "
                    "reported; the others were killed") from None
    finally:
        for proc in procs:
            proc.join(timeout=max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    _assert_race(make_backend, stack, total, workers * rounds)
    return total


def _assert_race(make_backend: MakeBackend, stack: str, total: Counter[str],
                 rounds: int) -> None:
    crashes = [k for k in total if k.startswith("crash")]
    assert not crashes, f"a racer crashed: {crashes}"
    backend = make_backend()
    try:
        counter = int(backend.read(stack).outputs.get("counter", 0))
    finally:
        backend.close()
    assert total["double"] == 0, f"two processes held the lock at once: {dict(total)}"
    assert total["conflict"] == total["refused"] == 0, f"a holder was refused: {dict(total)}"
    assert total["unfenced"] == total["journal_unfenced"] == total["journal_other"] == 0, (
        f"a force-unlocked holder wrote: {dict(total)}")
    assert total["fenced"] == total["journal_fenced"] == total["forced"]
    assert counter == total["ok"], f"lost updates: counter {counter}, tally {dict(total)}"
    assert total["ok"] == rounds - total["forced"]
