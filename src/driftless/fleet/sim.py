"""A discrete-event simulation of a fleet rollout, on the real scheduling and lease code.

No I/O: nodes are ``FleetNode`` objects (the class real agents use) over a
``MemoryCoordinator`` whose clock is the simulation's. Apply and health
times are drawn from a seeded RNG; some nodes have slow health checks (past
the timeout they fail), some fail their health gate, some die mid-rollout
(they stop renewing, as after SIGKILL). At every event the simulation checks:

- never more nodes unavailable for the rollout (applying, checking health,
  rolling back, or dead while their slot is still leased) than the slots;
- with a failing canary, no node outside the canary group ever applies;
- at the end, no slot is still held and the store's history replays cleanly.

``run(SimConfig(...))`` returns a ``SimResult`` with the convergence time
and the bound it is compared with (waves x the longest apply + health).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import field

from driftless.fleet.audit import concurrency
from driftless.fleet.base import Member, Slot
from driftless.fleet.member import FleetNode, Go
from driftless.fleet.memory import MemoryCoordinator
from driftless.fleet.rollout import RolloutPolicy
from driftless.records import record

__all__ = ["SimConfig", "SimResult", "run"]

REVISION = "rev-new"
BUSY = ("applying", "checking", "rolling_back")


@record
class SimConfig:
    """The fleet and the faults injected into it (times in simulated seconds)."""

    nodes: int = 1000
    policy: RolloutPolicy = field(default_factory=lambda: RolloutPolicy(
        max_unavailable="10%", canary=5, failure_threshold="10%", health_timeout=60.0))
    apply_time: tuple[float, float] = (5.0, 15.0)
    health_time: tuple[float, float] = (10.0, 30.0)
    slow_health: float = 0.05      # share of nodes whose health check is 2-4x slower
    fail_rate: float = 0.01        # share of nodes whose health gate fails
    die_rate: float = 0.01         # share of nodes killed mid-rollout
    failing_canary: bool = False   # every canary fails its health gate
    poll: float = 2.0
    ttl: float = 15.0
    seed: int = 1
    limit: float = 86400.0


@record(frozen=False)
class SimResult:
    """What one simulated rollout did."""

    nodes: int
    slots: int
    waves: int
    converged_at: float | None
    bound: float
    mean_cycle: float
    peak_busy: int
    healthy: int
    rolled_back: int
    dead: int
    halted: str | None
    non_canary_applied: int
    slots_left: int
    audit_peak: int
    audit_problems: tuple[str, ...]
    events: int
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        conv = "did not converge" if self.converged_at is None else f"{self.converged_at:.0f}s"
        typical = self.waves * self.mean_cycle
        return (f"N={self.nodes} slots={self.slots} waves={self.waves}: converged {conv}; "
                f"waves x mean (apply+health) = {typical:.0f}s, bound waves x (longest apply "
                f"+ health timeout + poll) = {self.bound:.0f}s; peak in progress "
                f"{self.peak_busy}, healthy {self.healthy}, rolled back {self.rolled_back}, "
                f"dead {self.dead}, halted: {self.halted or 'no'}, events {self.events}")


@record(frozen=False)
class _Node:
    fleet: FleetNode
    apply_s: float
    health_s: float
    fails: bool
    dies_at: float | None
    state: str = "waiting"
    slot: Slot | None = None
    alive: bool = True
    died_busy: bool = False


class _Sim:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg, self.rng = cfg, random.Random(cfg.seed)
        self.now = 0.0
        self.coord = MemoryCoordinator(clock=lambda: self.now)
        self.queue: list[tuple[float, int, int, str]] = []
        self.seq = 0
        self.nodes = [self._node(i) for i in range(cfg.nodes)]
        self.peak = 0
        self.violations: list[str] = []
        self.non_canary_applied = 0
        self.events = 0
        # counters kept on every state change: the checks run after every event
        self.busy = self.settled_count = 0
        self.alive = cfg.nodes
        self.died_busy: list[_Node] = []

    def set_state(self, node: _Node, state: str) -> None:
        self.busy += (state in BUSY) - (node.state in BUSY)
        done = ("healthy", "rolled_back")
        self.settled_count += (state in done) - (node.state in done)
        node.state = state

    def _node(self, i: int) -> _Node:
        cfg, rng = self.cfg, self.rng
        health = rng.uniform(*cfg.health_time)
        if rng.random() < cfg.slow_health:
            health *= rng.uniform(2.0, 4.0)
        dies = rng.uniform(0, 300) if rng.random() < cfg.die_rate else None
        fleet = FleetNode(self.coord, Member(f"node-{i:04d}"), cfg.policy, ttl=cfg.ttl)
        return _Node(fleet, rng.uniform(*cfg.apply_time), health,
                     rng.random() < cfg.fail_rate, dies)

    def at(self, when: float, node: int, kind: str) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, node, kind))

    def start(self) -> None:
        for i, n in enumerate(self.nodes):
            n.fleet.start()
            self.at(self.rng.uniform(0, self.cfg.poll), i, "poll")
            self.at(self.cfg.ttl / 3, i, "heartbeat")
            if n.dies_at is not None:
                self.at(n.dies_at, i, "die")

    def loop(self) -> None:
        while self.queue and self.now < self.cfg.limit:
            self.now, _, i, kind = heapq.heappop(self.queue)
            node = self.nodes[i]
            if not node.alive:
                continue
            self.events += 1
            getattr(self, f"on_{kind}")(i, node)
            self.check()
            if self.settled():
                return

    # events -----------------------------------------------------------------

    def on_heartbeat(self, i: int, node: _Node) -> None:
        node.fleet.heartbeat()
        self.at(self.now + self.cfg.ttl / 3, i, "heartbeat")

    def on_die(self, i: int, node: _Node) -> None:
        node.alive = False
        node.died_busy = node.state in BUSY
        self.alive -= 1
        if node.died_busy:
            self.died_busy.append(node)
        self.busy -= node.state in BUSY
        self.settled_count -= node.state in ("healthy", "rolled_back")

    def on_poll(self, i: int, node: _Node) -> None:
        step = node.fleet.gate(REVISION)
        if isinstance(step, Go):
            node.slot = step.slot
            self.set_state(node, "applying")
            if node.fleet.node not in self.record_canary():
                self.non_canary_applied += 1
            self.at(self.now + node.apply_s, i, "applied")
        elif not step.done:
            self.at(self.now + self.cfg.poll * self.rng.uniform(0.5, 1.5), i, "poll")

    def on_applied(self, i: int, node: _Node) -> None:
        self.set_state(node, "checking")
        timeout = self.cfg.policy.health_timeout
        self.at(self.now + min(node.health_s, timeout), i, "health")

    def on_health(self, i: int, node: _Node) -> None:
        assert node.slot is not None
        failing = node.fails or (self.cfg.failing_canary
                                 and node.fleet.node in self.record_canary())
        if not failing and node.health_s <= self.cfg.policy.health_timeout:
            node.fleet.passed(node.slot)
            node.slot = None
            self.set_state(node, "healthy")
            return
        node.fleet.failed(node.slot, "health gate failed or timed out")
        self.set_state(node, "rolling_back")
        self.at(self.now + node.apply_s, i, "rolledback")

    def on_rolledback(self, i: int, node: _Node) -> None:
        assert node.slot is not None
        node.fleet.rolled_back(node.slot, "rev-old")
        node.slot = None
        self.set_state(node, "rolled_back")

    # invariants ---------------------------------------------------------------

    def record_canary(self) -> tuple[str, ...]:
        record = self.coord.rollout(REVISION)
        return record.canary if record else ()

    def check(self) -> None:
        record = self.coord.rollout(REVISION)
        if record is None:
            return
        busy = self.busy
        if self.died_busy:
            live_slots = {s.node for s in self.coord.slots(REVISION)}
            busy += sum(n.fleet.node in live_slots for n in self.died_busy)
        self.peak = max(self.peak, busy)
        if busy > record.slots:
            self.violations.append(f"t={self.now:.1f}: {busy} nodes unavailable, "
                                   f"{record.slots} slots")
        if self.cfg.failing_canary and self.non_canary_applied:
            self.violations.append(f"t={self.now:.1f}: a non-canary node applied although "
                                   "the canary failed")

    def settled(self) -> bool:
        if self.coord.halted(REVISION) is not None:
            return self.busy == 0
        return self.settled_count == self.alive


def run(cfg: SimConfig) -> SimResult:
    """Simulate one rollout of a new revision over ``cfg.nodes`` nodes."""
    sim = _Sim(cfg)
    sim.start()
    sim.loop()
    converged = sim.now if sim.settled() else None
    record = sim.coord.rollout(REVISION)
    assert record is not None
    # Let every lease of a dead node run out (the living keep renewing); then no
    # slot may be held.
    for _ in range(4):
        sim.now += cfg.ttl / 3
        for n in sim.nodes:
            if n.alive:
                n.fleet.heartbeat()
    leftover = [s for s in sim.coord.slots(REVISION)
                if not sim.nodes[int(s.node.split("-")[1])].alive or
                sim.nodes[int(s.node.split("-")[1])].state not in BUSY]
    audit = concurrency(sim.coord.history(REVISION))
    waves = 1 + math.ceil((cfg.nodes - len(record.canary)) / record.slots)
    per_wave = cfg.apply_time[1] + cfg.policy.health_timeout + cfg.poll * 1.5
    halt = sim.coord.halted(REVISION)
    return SimResult(
        nodes=cfg.nodes, slots=record.slots, waves=waves, converged_at=converged,
        bound=waves * per_wave, mean_cycle=sum(cfg.apply_time) / 2 + sum(cfg.health_time) / 2,
        peak_busy=sim.peak,
        healthy=sum(n.state == "healthy" for n in sim.nodes if n.alive),
        rolled_back=sum(n.state == "rolled_back" for n in sim.nodes if n.alive),
        dead=sum(not n.alive for n in sim.nodes), halted=halt.reason if halt else None,
        non_canary_applied=sim.non_canary_applied, slots_left=len(leftover),
        audit_peak=audit.peak, audit_problems=audit.problems, events=sim.events,
        violations=sim.violations)
