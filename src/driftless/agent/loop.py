"""The agent: wake up, decide which stacks are due, run them, sleep.

I/O: the store, git (through the source cache), the HTTP server thread it
starts, and signal handlers. The loop runs in the main thread; the HTTP
server in its own (ARCHITECTURE.md, "Concurrency"). While idle it sleeps on
an ``Event`` with a timeout until the next due time, so idle CPU is ~0.

A source is fetched when its poll interval passed or a webhook asked, and
only by the loop, so one fetch of a source runs at a time and webhooks that
arrive meanwhile wait as one more fetch (none when they name the commit the
fetch found): a burst of deliveries costs a fetch or two. A stack is due
when its source brought something, a human asked, its drift interval passed
(drift checks keep their own schedule whatever else is pending), or its
retry delay ran out. Stacks run in dependency order; a dependent waits
(WaitError) until its dependencies are Ready.

While a source's fetch fails, its stacks are Ready=False
``SourceUnavailable`` (sync Unknown) and it is retried with exponential
backoff per source; drift checks still run on the last fetched revision.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from driftless.agent.config import AgentConfig
from driftless.agent.context import AgentRuntime, ReconcileContext
from driftless.agent.fleet import FleetHook
from driftless.agent.hooks import HookReceiver
from driftless.agent.metrics import AgentMetrics
from driftless.agent.policy import AGENT_ENV
from driftless.agent.sources import SourceCache
from driftless.agent.steps import run_once
from driftless.agent.store import AgentStore, Controls, StackStatus, default_store_path
from driftless.errors import DriftlessError, SourceError
from driftless.model import Condition, Sensitive
from driftless.records import record
from driftless.render import load_project, stack_order

if TYPE_CHECKING:
    from driftless.agent.api import RunningServer

__all__ = ["Agent", "admin_token_path"]

log = logging.getLogger("driftless.agent")
CONTROLS_EVERY = 1.0  # seconds: how often a wake-up re-reads the store's controls


def admin_token_path(state_dir: Path) -> Path:
    """Where a generated admin token is kept (0600) for the local CLI."""
    return state_dir / ".driftless" / "admin-token"


@record(frozen=False)
class _Slot:
    """Scheduling facts of one stack."""

    stack: str
    source: str
    due: float = 0.0
    trigger: str = "poll"
    drift_due: float = 0.0
    attempt: int = 0
    seen_request: float = 0.0
    drift_pending: bool = False
    actor: str = "agent"


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
        self._requests: list[tuple[str | None, str | None, str, str | None]] = []
        self._wanted: dict[str, str] = {}  # source -> trigger of a pending fetch
        self._controls_wanted, self._controls_read = True, 0.0
        self.runtime = AgentRuntime(config, self.store, self.sources, self.metrics,
                                    self._stop.is_set, FleetHook.from_environ(os.environ))
        self.slots: dict[str, _Slot] = {}
        self._source_due = {name: 0.0 for name in sources}
        self.cycle = 0
        self.admin_token = config.admin_token or self._generated_token()
        self.started = threading.Event()
        self.hooks = HookReceiver(self)

    # -- requests from other threads ---------------------------------------------

    def request(self, *, stack: str | None = None, source: str | None = None,
                trigger: str = "manual", after: str | None = None) -> None:
        """Run ``stack`` (or every stack of ``source``, or all) as soon as possible.

        A ``webhook`` request for a source asks for a fetch; ``after`` (the
        commit the delivery names) lets the loop skip it when that commit is
        already the fetched one. It never chooses what is deployed.
        """
        with self._lock:
            self._requests.append((stack, source, trigger, after))
        self._wake.set()

    def wake(self) -> None:
        """Look at the store's controls now (a human wrote one)."""
        self._controls_wanted = True
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
            if self.runtime.fleet is not None:
                self.runtime.fleet.close()
            self.store.set_meta(pid=None, url=None)

    def _cycle_once(self) -> None:
        self.cycle += 1
        now = time.time()
        self.hooks.failures.flush()
        self._take_requests(now)
        self._fetch_due_sources(now)
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

    def _fetch_due_sources(self, now: float) -> None:
        """Fetch each source whose poll is due (backoff included) or a webhook wants."""
        for name, due in self._source_due.items():
            trigger = self._wanted.pop(name, None)
            if trigger is None and due > now:
                continue
            trigger = trigger or "poll"
            self._source_due[name] = now + self.sources.configs[name].interval
            if not self._refresh(name, trigger):
                continue  # its stacks are marked; the next fetch makes them due
            self._discover(name)
            for slot in self._slots_of(name):
                if slot.attempt == 0 or trigger == "webhook":  # a failing stack keeps its backoff
                    self._make_due(slot, trigger, now, keep_earlier=True)

    def _refresh(self, name: str, trigger: str) -> bool:
        """One fetch of ``name``; on a git failure mark its stacks and back off."""
        try:
            self.sources.refresh(name)
        except SourceError as exc:
            self.metrics.fetched(name, ok=False, trigger=trigger)
            retry = self.sources.retry_at(name)
            self._source_due[name] = retry
            log.warning("source %s unavailable (%d failed fetches, next in %.0f s): %s",
                        name, self.sources.attempt(name), retry - time.time(), exc.message)
            # Stacks recorded before a restart count too: their old Ready must not stand.
            known = {st.stack for st in self.store.statuses() if st.source == name}
            for stack in sorted(known | {slot.stack for slot in self._slots_of(name)}):
                self._mark_unavailable(stack, name)
            return False
        except DriftlessError:
            self.metrics.fetched(name, ok=True, trigger=trigger)
            return True  # a missing ref or path: the stacks' runs stall on it
        self.metrics.fetched(name, ok=True, trigger=trigger)
        return True

    def _mark_unavailable(self, stack: str, source: str) -> None:
        """Ready=False SourceUnavailable, sync Unknown: git cannot say what is current."""
        note = self.sources.unavailable_note(source)
        if not note:
            return
        st = self.store.status(stack)
        if not st.revision:
            return  # nothing known yet: the source problem is recorded by _discover
        cond = Condition("Ready", False, "SourceUnavailable", note, time.time())
        rest = st.message.partition("; ")[2] if st.message.startswith("git source") else st.message
        self.store.put_status(replace(st, sync="Unknown", conditions=(cond,),
                                      message="; ".join(p for p in (note, rest) if p)))

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
            src = self.sources.current(source)
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
        # Its own flag, not a trigger: a pending webhook or poll never displaces it.
        for slot in self.slots.values():
            if slot.drift_due <= now:
                slot.drift_due = now + self.config.drift_interval
                slot.drift_pending = True
                slot.due = min(slot.due, now)

    def _take_requests(self, now: float) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for stack, source, trigger, after in requests:
            if trigger == "webhook" and source is not None:
                if not self._fetched_already(source, after):
                    self._wanted[source] = "webhook"
                continue
            for slot in self.slots.values():
                if stack in (None, slot.stack) and source in (None, slot.source):
                    self._make_due(slot, trigger, now)
        if self._controls_wanted or now - self._controls_read >= CONTROLS_EVERY:
            # Not on every wake-up: a burst of webhooks would read the store 500 times.
            self._controls_wanted, self._controls_read = False, now
            for slot in self.slots.values():
                if self._take_control(slot, self.store.controls(slot.stack)):
                    slot.due = now

    @staticmethod
    def _take_control(slot: _Slot, ctl: Controls) -> bool:
        """Adopt a human request written to the store since the last look: its
        trigger (manual or rollback) and who asked."""
        if ctl.requested <= slot.seen_request:
            return False
        slot.seen_request = ctl.requested
        slot.trigger, slot.actor = ctl.request_trigger or "manual", ctl.requested_by or "agent"
        return True

    def _fetched_already(self, source: str, after: str | None) -> bool:
        """A webhook naming the commit the last fetch found needs no fetch."""
        known = self.sources.known(source)
        return (bool(after) and known is not None and known.revision == after
                and self.sources.unavailable(source) is None)

    @staticmethod
    def _make_due(slot: _Slot, trigger: str, now: float, *, keep_earlier: bool = False) -> None:
        if keep_earlier and slot.due <= now and slot.trigger in ("manual", "webhook", "rollback"):
            return  # a stronger trigger is already pending
        slot.due, slot.trigger = now, trigger

    def _ordered_due(self, now: float) -> Iterator[_Slot]:
        return (s for s in list(self.slots.values()) if s.due <= now)

    def _slots_of(self, source: str) -> list[_Slot]:
        return [s for s in self.slots.values() if s.source == source]

    # -- running one stack ---------------------------------------------------------

    def _run_slot(self, slot: _Slot) -> None:
        status = self.store.status(slot.stack)
        self._take_control(slot, status.controls)
        ctx = ReconcileContext(slot.stack, slot.source, self._trigger(slot, status), self.cycle,
                               self.runtime, status)
        ctx.actor = slot.actor if ctx.trigger in ("manual", "rollback") else "agent"
        slot.drift_pending, slot.actor = False, "agent"
        done = run_once(ctx, attempt=slot.attempt)
        ok = done.condition is not None and done.condition.status and not done.error
        down = self.sources.unavailable(slot.source) is not None
        slot.attempt = 0 if ok or down else slot.attempt + 1
        slot.trigger = "rollback" if done.mark_bad else "poll"
        if done.mark_bad:
            slot.actor = "agent (auto_rollback)"
        slot.due = time.time() + done.delay
        if down:  # the source's next fetch makes the stack due again
            slot.due = max(slot.due, self.sources.retry_at(slot.source))
            self._mark_unavailable(slot.stack, slot.source)
        if done.trigger == "drift" or done.outcome != "unchanged":
            slot.drift_due = time.time() + self.config.drift_interval
        if done.error is not None and not isinstance(done.error, SourceError):
            log.warning("stack %s: %s", slot.stack, done.error)

    def _trigger(self, slot: _Slot, status: StackStatus) -> str:
        """The slot's trigger; a pending drift check on an unchanged revision is ``drift``."""
        if not slot.drift_pending or slot.trigger not in ("poll", "webhook"):
            return slot.trigger
        known = self.sources.known(slot.source)
        if known is None or known.revision == status.revision:
            return "drift"
        return slot.trigger  # a new revision is planned with live reads anyway

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

