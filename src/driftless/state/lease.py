"""Holding a stack's lock for the length of an operation.

I/O: calls the given backend's lock/renew/unlock, sleeps between retries and
runs one daemon thread per held lock that renews its lease. Only the CLI and
the agent take locks; they wrap a plan or apply in ``hold_lock`` so the lease
stays alive while the work runs and is always released at the end, also on
an exception or Ctrl-C. A process killed outright stops renewing, and its
lease runs out so the next run can take over.

A holder found dead (same host, pid gone) is taken over only through the
backend's ``take_over``, a compare-and-set on that very holder's record: a
forced delete would let two takers both win. A backend without
``take_over`` makes the taker wait for the dead holder's lease to expire.
Renewal runs at least every third of the lease; a renewal that finds the
lock gone or someone else's marks the lease lost, and the backend's fence
then refuses every further state and journal write ("lock lost"), so an
apply stops before starting another change.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol, runtime_checkable

from driftless.errors import LockHeld, StateError
from driftless.model import LockInfo, background
from driftless.state.base import StateBackend

__all__ = ["TakesOver", "hold_lock", "hold_locks", "pid_gone", "take_lock", "try_lock"]



def _log() -> Any:
    """This module's logger; ``logging`` is imported only when there is a warning."""
    import logging

    return logging.getLogger(__name__)

FIRST_RETRY = 0.05
LONGEST_RETRY = 2.0


@runtime_checkable
class TakesOver(Protocol):
    """A backend that can replace a dead holder's lock by compare-and-set."""

    def take_over(self, stack: str, info: LockInfo, *, holder: LockInfo) -> str:
        """Take the lock only while it is still ``holder``'s; else ``LockHeld``."""


def try_lock(backend: StateBackend, stack: str, info: LockInfo) -> None:
    """One attempt: take the lock, or take it over from a dead holder; else ``LockHeld``."""
    try:
        backend.lock(stack, info)
        return
    except LockHeld as held:
        if not holder_gone(held.info) or not isinstance(backend, TakesOver):
            raise
        dead = held.info
    # Same host, process gone: its lease can only protect a corpse. The
    # takeover is conditional on that holder, so a racing taker cannot also win.
    backend.take_over(stack, info, holder=dead)
    _log().warning("took over the lock on stack '%s' from %s, which is no longer running",
                 stack, dead.describe())


def take_lock(
    backend: StateBackend, stack: str, *, operation: str, lease: float = 60.0, wait: float = 0.0
) -> LockInfo:
    """Take the lock, retrying with backoff for up to ``wait`` seconds.

    Re-raises the last ``LockHeld`` once ``wait`` has passed.
    """
    deadline = time.monotonic() + wait
    delay = FIRST_RETRY
    while True:
        # A fresh record per attempt: the lease must start when it is taken.
        info = LockInfo.new(operation, lease=lease)
        try:
            try_lock(backend, stack, info)
            return info
        except LockHeld:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            # Jitter keeps several waiters from retrying in lockstep.
            import random  # only a waiter needs jitter

            time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, LONGEST_RETRY)


def holder_gone(info: LockInfo) -> bool:
    """Whether a lock's holder is a process on this host that no longer runs.

    A pid that now belongs to a younger process (pid reuse) counts as gone.
    Holders on other hosts are never judged: only their lease expiry counts.
    """
    if info.pid <= 0 or not info.who.endswith("@" + os.uname().nodename):  # gethostname()
        return False
    return pid_gone(info.pid, info.created)


def pid_gone(pid: int, created: float | None) -> bool:
    """Whether process ``pid`` of this host no longer runs as the one that took a lock
    at ``created``: it is gone, a zombie (killed, not yet reaped: under a container's
    first process that reaps nothing, for good), or a younger process given the same
    pid (pids wrap at 32,768 on many hosts). A process not ours to inspect runs."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if created is not None and float(proc.create_time()) > created + 1.0:
            return True
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


class _Renewer:
    """A daemon thread that renews one lease until stopped. It sleeps between
    renewals and does each one holding ``busy``, so the command may fork while it
    sleeps (``model.background.add_sleeper``: a large plan printed by a child, a cache
    written by one)."""

    def __init__(self, backend: StateBackend, stack: str, lock_id: str, every: float) -> None:
        self._backend = backend
        self._stack = stack
        self._lock_id = lock_id
        self._every = every
        self._stopped = threading.Event()
        self._busy = threading.Lock()
        self.lost = threading.Event()
        self.error: StateError | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"driftless-lease-{stack}", daemon=True
        )

    def start(self) -> None:
        background.add_sleeper(self._thread, self._busy)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            with self._busy:
                if not self._stopped.is_set():
                    self._renew_once()

    def _renew_once(self) -> None:
        try:
            self._backend.renew(self._stack, self._lock_id)
            self.error = None
        except StateError as exc:
            self.error = exc
            _log().warning("could not renew the lock on stack '%s': %s", self._stack, exc)
            self._check_lost()
        except Exception as exc:  # the backend's own I/O errors; keep trying
            self.error = StateError(f"renewing the lock on stack '{self._stack}' failed: {exc}")
            _log().warning("%s", self.error)

    def _check_lost(self) -> None:
        """A failed renewal may be a busy store; it is a lost lease only when the
        lock is gone or carries another id (the backend's fence refuses writes)."""
        try:
            holder = self._backend.lock_info(self._stack)
        except Exception:  # the store is unreachable: not proof of loss, retry later
            return
        if holder is None or holder.id != self._lock_id:
            self.lost.set()
            self._stopped.set()  # nothing left to renew
            _log().warning("lock lost: the lock on stack '%s' is %s", self._stack,
                        "released" if holder is None else f"held by {holder.describe()}")

    def stop(self, *, timeout: float) -> None:
        self._stopped.set()
        self._thread.join(timeout)
        background.drop_sleeper(self._thread)


@contextmanager
def hold_lock(
    backend: StateBackend,
    stack: str,
    *,
    operation: str,
    lease: float = 60.0,
    renew_every: float | None = None,
    wait: float = 0.0,
) -> Iterator[LockInfo]:
    """Hold ``stack``'s lock while the body runs, renewing it every ``lease/3``
    (or ``renew_every`` when that is more often).

    Raises ``LockHeld`` when the lock stays taken for ``wait`` seconds. If the
    body succeeds but the lease was lost meanwhile (taken over or force
    unlocked), raises ``StateError`` at exit, since another process may have
    changed the stack.
    """
    info = take_lock(backend, stack, operation=operation, lease=lease, wait=wait)
    # A slower renewal would leave too little of the lease to survive one failed try.
    every = min(renew_every or lease / 3, lease / 3)
    renewer = _Renewer(backend, stack, info.id, every)
    renewer.start()
    body_ok = False
    try:
        yield info
        body_ok = True
    finally:
        renewer.stop(timeout=lease)
        problem = _release(backend, stack, info) or renewer.error
        if problem is not None:
            _report_lost(stack, operation, problem, raise_it=body_ok)


def _release(backend: StateBackend, stack: str, info: LockInfo) -> StateError | None:
    try:
        backend.unlock(stack, info.id)
    except StateError as exc:
        return exc
    return None


def _report_lost(stack: str, operation: str, problem: StateError, *, raise_it: bool) -> None:
    message = f"the lock on stack '{stack}' was lost while {operation} ran: {problem}"
    if not raise_it:
        # The body's own exception is the one the user must see.
        _log().warning("%s", message)
        return
    raise StateError(
        message,
        hint=f"another process may have changed stack '{stack}'; run plan again "
        "to see its state",
    )


@contextmanager
def hold_locks(
    backend: StateBackend,
    stacks: Iterable[str],
    *,
    operation: str,
    lease: float = 60.0,
    renew_every: float | None = None,
    wait: float = 0.0,
) -> Iterator[dict[str, LockInfo]]:
    """Hold several stacks' locks, taken in sorted order so two runs never deadlock."""
    with ExitStack() as held:
        infos = {}
        for stack in sorted(set(stacks)):
            infos[stack] = held.enter_context(hold_lock(
                backend, stack, operation=operation, lease=lease,
                renew_every=renew_every, wait=wait,
            ))
        yield infos
