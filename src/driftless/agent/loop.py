"""The agent: wake up, decide which stacks are due, run them, sleep.

I/O: the store, git (through the source cache), the HTTP server thread it
starts, and signal handlers. The loop runs in the main thread; the HTTP
server in its own (ARCHITECTURE.md, "Concurrency"). While idle it sleeps on
an ``Event`` with a timeout until the next due time, so idle CPU is ~0.

A stack is due when its source's poll interval passed, a webhook or a human
asked, its drift interval passed, or its retry delay ran out. Stacks run in
dependency order; a dependent waits (WaitError) until its dependencies are
Ready.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from driftless.agent.config import AgentConfig
from driftless.agent.context import AgentRuntime, ReconcileContext
from driftless.agent.metrics import AgentMetrics
from driftless.agent.policy import AGENT_ENV
from driftless.agent.sources import SourceCache
from driftless.agent.steps import run_once
from driftless.agent.store import AgentStore, StackStatus, default_store_path
from driftless.errors import DriftlessError
from driftless.model import Condition, Sensitive
from driftless.render import load_project, stack_order

if TYPE_CHECKING:
    from driftless.agent.api import RunningServer

__all__ = ["Agent", "admin_token_path"]

log = logging.getLogger("driftless.agent")


def admin_token_path(state_dir: Path) -> Path:
    """Where a generated admin token is kept (0600) for the local CLI."""
    return state_dir / ".driftless" / "admin-token"


@dataclass
class _Slot:
    """Scheduling facts of one stack."""

    stack: str
    source: str
    due: float = 0.0
    trigger: str = "poll"
    drift_due: float = 0.0
    attempt: int = 0
    seen_request: float = 0.0


class Agent:
    """The reconcile loop of several stacks from several git sources."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.store = AgentStore(default_store_path(config.state_dir))
        self.metrics = AgentMetrics()
        sources = {s.name: s for s in config.sources}
        self.sources = SourceCache(sources, cache_root=config.state_dir / "sources")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[tuple[str | None, str | None, str]] = []
        self.runtime = AgentRuntime(config, self.store, self.sources, self.metrics,
                                    self._stop.is_set)
        self.slots: dict[str, _Slot] = {}
        self._source_due = {name: 0.0 for name in sources}
        self.cycle = 0
        self.admin_token = config.admin_token or self._generated_token()
        self.started = threading.Event()

    # -- requests from other threads ---------------------------------------------

    def request(self, *, stack: str | None = None, source: str | None = None,
                trigger: str = "manual") -> None:
        """Run ``stack`` (or every stack of ``source``, or all) as soon as possible."""
        with self._lock:
            self._requests.append((stack, source, trigger))
        self._wake.set()

    def stop(self) -> None:
        """Ask the loop to finish the step in progress and exit."""
        self._stop.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Whether stop was requested."""
        return self._stop.is_set()

    # -- the loop ------------------------------------------------------------------

    def run(self, *, serve: bool = True) -> None:
        """Run until stopped (SIGTERM/SIGINT when in the main thread)."""
        os.environ[AGENT_ENV] = "1"  # policy: applies by the agent are allowed
        self._install_signals()
        server = self._start_server() if serve else None
        self.store.set_meta(pid=str(os.getpid()), started=str(time.time()))
        self.started.set()
        try:
            while not self._stop.is_set():
                self._cycle_once()
                self._sleep()
        finally:
            if server is not None:
                server.stop()
            self.store.set_meta(pid=None, url=None)

    def _cycle_once(self) -> None:
        self.cycle += 1
        now = time.time()
        self._take_requests(now)
        self._poll_due_sources(now)
        self._drift_due(now)
        for slot in self._ordered_due(now):
            if self._stop.is_set():
                return
            self._run_slot(slot)

    def _sleep(self) -> None:
        due = [s.due for s in self.slots.values()] + list(self._source_due.values())
        due += [s.drift_due for s in self.slots.values()]
        timeout = max(0.05, min(due, default=time.time() + 60) - time.time())
        self._wake.wait(timeout=min(timeout, 60.0))
        self._wake.clear()

    # -- deciding what is due --------------------------------------------------------

    def _poll_due_sources(self, now: float) -> None:
        for name, due in self._source_due.items():
            if due > now:
                continue
            self._source_due[name] = now + self.sources.configs[name].interval
            self._discover(name)
            for slot in self._slots_of(name):
                if slot.attempt == 0:  # a failing stack keeps its backoff
                    self._make_due(slot, "poll", now, keep_earlier=True)

    def _discover(self, source: str) -> None:
        """Learn the source's stacks (from config, else from its project)."""
        cfg = self.sources.configs[source]
        names: list[str] | None = list(cfg.stacks) if cfg.stacks is not None else None
        if names is None:
            names = self._stacks_in_project(source)
        for name in names or ():
            taken = self.slots.get(name)
            if taken is not None and taken.source != source:
                log.error("stack %s is in sources %s and %s; keeping %s (rename one)",
                          name, taken.source, source, taken.source)
            elif taken is None:
                self.slots[name] = _Slot(name, source, due=time.time(),
                                         drift_due=time.time() + self.config.drift_interval)

    def _stacks_in_project(self, source: str) -> list[str] | None:
        try:
            src = self.sources.latest(source, cycle=self.cycle)
            return list(stack_order(load_project(src.path, policy=self.config.policy)))
        except DriftlessError as exc:
            known = [s.stack for s in self._slots_of(source)]
            if not known:
                self._record_source_problem(source, exc)
            return known

    def _record_source_problem(self, source: str, exc: DriftlessError) -> None:
        # No stack known yet: show the problem under the source's name.
        cond = Condition("Ready", False, type(exc).__name__, str(exc), time.time())
        self.store.put_status(StackStatus(source, source=source, message=str(exc),
                                          conditions=(cond,)))

    def _drift_due(self, now: float) -> None:
        for slot in self.slots.values():
            if slot.drift_due <= now:
                slot.drift_due = now + self.config.drift_interval
                self._make_due(slot, "drift", now, keep_earlier=True)

    def _take_requests(self, now: float) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for stack, source, trigger in requests:
            if trigger == "webhook" and source is not None:
                self._source_due[source] = now + self.sources.configs[source].interval
                self._discover(source)
            for slot in self.slots.values():
                if stack in (None, slot.stack) and source in (None, slot.source):
                    self._make_due(slot, trigger, now)
        for slot in self.slots.values():
            requested = self.store.controls(slot.stack).requested
            if requested > slot.seen_request:
                slot.seen_request = requested
                self._make_due(slot, "manual", now)

    @staticmethod
    def _make_due(slot: _Slot, trigger: str, now: float, *, keep_earlier: bool = False) -> None:
        if keep_earlier and slot.due <= now and slot.trigger in ("manual", "webhook"):
            return  # a stronger trigger is already pending
        slot.due, slot.trigger = now, trigger

    def _ordered_due(self, now: float) -> Iterator[_Slot]:
        return (s for s in list(self.slots.values()) if s.due <= now)

    def _slots_of(self, source: str) -> list[_Slot]:
        return [s for s in self.slots.values() if s.source == source]

    # -- running one stack ---------------------------------------------------------

    def _run_slot(self, slot: _Slot) -> None:
        ctx = ReconcileContext(slot.stack, slot.source, slot.trigger, self.cycle,
                               self.runtime, self.store.status(slot.stack))
        slot.seen_request = max(slot.seen_request, ctx.status.controls.requested)
        done = run_once(ctx, attempt=slot.attempt)
        ok = done.condition is not None and done.condition.status and not done.error
        slot.attempt = 0 if ok else slot.attempt + 1
        slot.trigger = "rollback" if done.mark_bad else "poll"
        slot.due = time.time() + done.delay
        if done.trigger == "drift" or done.outcome != "unchanged":
            slot.drift_due = time.time() + self.config.drift_interval
        if done.error is not None:
            log.warning("stack %s: %s", slot.stack, done.error)

    # -- plumbing --------------------------------------------------------------------

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop())

    def _start_server(self) -> RunningServer:
        from driftless.agent.api import start_server  # starlette/uvicorn only when serving

        handle = start_server(self, host=self.config.host, port=self.config.port)
        self.store.set_meta(url=handle.url)
        return handle

    def _generated_token(self) -> Sensitive:
        path = admin_token_path(self.config.state_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(32))
        return Sensitive(path.read_text().strip())

