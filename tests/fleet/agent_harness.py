"""N real ``driftless agent`` processes in fleet mode on loopback, sharing one store.

I/O: a git repository in a temp dir (one stack selected by ``role: worker``
that writes a release file and runs a short command per revision), one
agent subprocess per node with its own state dir and output dir, and the
fleet store through a ``Coordinator``. Used by tests/fleet/test_real_agents.py
(N = 10) and bench/bench_fleet_agents.py (N = 50).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from driftless.fleet.audit import Audit, concurrency
from driftless.fleet.base import Coordinator

__all__ = ["AgentFleet", "scenario"]

STACK = """\
select: {{role: {role}}}
variables:
  out_dir: {{type: string}}
resources:
  release:
    type: local:file
    properties:
      path: ${{var.out_dir}}/release.txt
      content: "{release}"
  work:
    type: local:command
    properties:
      command: "{command}"
      triggers: {{release: "{release}"}}
"""

GIT = ["git", "-c", "user.name=fleet", "-c", "user.email=fleet@example.invalid"]


@dataclass
class AgentFleet:
    """The repository, the agents and the store they share."""

    root: Path
    store_url: str
    coord: Coordinator
    nodes: int
    env: Mapping[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    def names(self) -> list[str]:
        return [f"node-{i:03d}" for i in range(self.nodes)]

    def alive(self) -> list[str]:
        return [n for n in self.names() if n not in self.killed]

    # the repository ------------------------------------------------------------

    def commit(self, release: str, command: str = "sleep 0.3", *, role: str = "worker") -> str:
        """Commit a revision writing ``release`` on nodes tagged ``role``; its rollout name."""
        stack = self.repo / "stacks" / "worker"
        stack.mkdir(parents=True, exist_ok=True)
        if not (self.repo / ".git").exists():
            subprocess.run(["git", "init", "-q", "-b", "main", str(self.repo)], check=True)
            (self.repo / "driftless.yaml").write_text(
                "project: fleet\nstate: sqlite:///.driftless/state.db\nstacks: [stacks/worker]\n")
        (stack / "stack.yaml").write_text(STACK.format(release=release, command=command,
                                                         role=role))
        subprocess.run([*GIT, "-C", str(self.repo), "add", "-A"], check=True)
        subprocess.run([*GIT, "-C", str(self.repo), "commit", "-qm", release], check=True)
        sha = subprocess.run(["git", "-C", str(self.repo), "rev-parse", "HEAD"], check=True,
                             capture_output=True, text=True).stdout.strip()
        return f"worker.{sha[:20]}"

    # the agents ----------------------------------------------------------------

    def start(self) -> None:
        for name in self.names():
            out = self.root / "out" / name
            out.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, **self.env, "DRIFTLESS_FLEET": self.store_url,
                   "DRIFTLESS_NODE_NAME": name, "DRIFTLESS_NODE_TAGS": "role=worker",
                   "DRIFTLESS_VAR_out_dir": str(out)}
            log = (self.root / f"{name}.log").open("wb")
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "driftless", "agent", "--source", str(self.repo),
                 "--interval", "0.5", "--drift-interval", "3600",
                 "--state-dir", str(self.root / "agents" / name), "--listen", "127.0.0.1:0"],
                env=env, stdout=log, stderr=subprocess.STDOUT)
            log.close()

    def start_idle(self, *, timeout: float) -> None:
        """Start every agent on a revision that selects no node, and wait until all joined
        (so the first rollout's slots are computed from the whole fleet)."""
        self.commit("idle", role="nobody")
        self.start()
        self.wait_for(f"{self.nodes} members",
                      lambda: len(self.coord.members()) == self.nodes, timeout=timeout)

    def kill(self, name: str) -> None:
        """SIGKILL one agent: no clean shutdown, its lease must run out."""
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()
        self.killed.add(name)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def exited(self) -> list[str]:
        return [n for n, p in self.procs.items() if n not in self.killed and p.poll() is not None]

    # what happened -------------------------------------------------------------

    def release_of(self, name: str) -> str | None:
        path = self.root / "out" / name / "release.txt"
        return path.read_text() if path.exists() else None

    def wait_for(self, what: str, pred: Callable[[], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.exited():
                raise AssertionError(f"agents exited: {self.exited()}; see {self.root}/*.log")
            if pred():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; logs in {self.root}")

    def converged(self, rollout: str, release: str) -> bool:
        """Every living node runs ``release`` and reported healthy on the rollout."""
        reports = self.coord.reports(rollout)
        return all(self.release_of(n) == release and n in reports
                   and reports[n].phase == "healthy" for n in self.alive())

    def audit(self, rollout: str) -> tuple[Audit, int]:
        """The store's slot history replayed, and the rollout's slot count."""
        record = self.coord.rollout(rollout)
        assert record is not None
        return concurrency(self.coord.history(rollout)), record.slots

    def victims(self, rollout: str, count: int, rng: random.Random) -> list[str]:
        """``count`` random living non-canary nodes, slot holders first."""
        record = self.coord.rollout(rollout)
        canary = set(record.canary) if record else set()
        holders = [s.node for s in self.coord.slots(rollout) if s.node not in canary]
        rest = [n for n in self.alive() if n not in canary and n not in holders]
        rng.shuffle(holders)
        rng.shuffle(rest)
        return (holders + rest)[:count]


def scenario(fleet: AgentFleet, *, kills: int, rng: random.Random,
             timeout: float = 120.0) -> dict[str, object]:
    """The acceptance scenario on a started-idle fleet; what was measured.

    1. a first revision rolls out: the store's history never shows more slots
       held than the rollout allows;
    2. a second revision: ``kills`` random non-canary agents (slot holders
       first) are SIGKILLed mid-rollout; the rest converge and every slot is
       gone once the leases ran out;
    3. a revision failing on the canary halts the rollout before any other
       node applies it; the canary returns to the last good revision.

    Raises ``AssertionError`` naming what broke.
    """
    measured: dict[str, object] = {}
    started = time.monotonic()
    first = fleet.commit("v1")
    fleet.wait_for("v1 everywhere", lambda: fleet.converged(first, "v1"), timeout=timeout)
    measured["v1_seconds"] = round(time.monotonic() - started, 1)
    audit, slots = fleet.audit(first)
    assert audit.grants >= fleet.nodes and not audit.problems, audit
    assert audit.peak <= slots, f"v1: {audit.peak} slots held at once, limit {slots}"
    measured["v1_audit"] = {"slots": slots, "peak": audit.peak, "grants": audit.grants}

    started = time.monotonic()
    second = fleet.commit("v2", command="sleep 1")
    canary = fleet.coord.rollout(first).canary  # type: ignore[union-attr]
    fleet.wait_for("a non-canary node holding a v2 slot",
                   lambda: any(s.node not in canary for s in fleet.coord.slots(second)),
                   timeout=timeout)
    victims = fleet.victims(second, kills, rng)
    for name in victims:
        fleet.kill(name)
    fleet.wait_for("v2 on every living node", lambda: fleet.converged(second, "v2"),
                   timeout=timeout)
    measured["v2_seconds"] = round(time.monotonic() - started, 1)
    ttl = float(fleet.env.get("DRIFTLESS_FLEET_TTL", "10"))
    fleet.wait_for("no slot left after lease expiry", lambda: not fleet.coord.slots(second),
                   timeout=ttl * 3)
    audit, slots = fleet.audit(second)
    assert not audit.problems and audit.still_held == (), audit
    assert audit.peak <= slots, f"v2: {audit.peak} slots held at once, limit {slots}"
    measured["killed"] = victims
    measured["v2_audit"] = {"slots": slots, "peak": audit.peak, "grants": audit.grants,
                            "ends": audit.ends}

    third = fleet.commit("v3", command="exit 1")
    fleet.wait_for("the halt", lambda: fleet.coord.halted(third) is not None, timeout=timeout)
    record = fleet.coord.rollout(third)
    assert record is not None and len(record.canary) == 1, record
    bad = record.canary[0]
    fleet.wait_for("the canary back on v2",
                   lambda: bad in fleet.coord.reports(third)
                   and fleet.coord.reports(third)[bad].phase == "rolled_back"
                   and fleet.release_of(bad) == "v2", timeout=timeout)
    assert set(fleet.coord.reports(third)) == {bad}, "a non-canary node took part"
    assert {fleet.release_of(n) for n in fleet.alive()} == {"v2"}
    assert not fleet.coord.slots(third)
    halt = fleet.coord.halted(third)
    measured["halt"] = halt.reason if halt else None
    return measured
