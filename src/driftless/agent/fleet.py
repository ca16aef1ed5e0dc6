"""The agent's fleet hook: a slot before applying a new revision, health after.

I/O: the fleet store (through ``driftless.fleet``), one daemon thread that
renews the node's lease every third of its TTL, and the engine's health
reads while the health gate waits. Off unless the operator sets
``DRIFTLESS_FLEET`` (the store URL); see docs/operations/fleet.md.

Three calls from ``agent.steps``:

- ``selects(project, stack)`` in render: a stack whose ``select:`` does not
  match this node's tags is not reconciled here;
- ``before_apply(ctx)`` in apply, only when changes are about to be made
  for a revision that is neither the one in place nor the last healthy one
  (a rollback never waits): takes a slot or raises ``WaitError``;
- ``after_health(ctx)`` after check_health: waits up to the health timeout
  while the stack is Progressing, then reports healthy (releasing the slot)
  or failed (halting the rollout when the rules say so) and marks the
  revision bad so the next run returns to the last healthy one; that run
  reports ``rolled_back`` and releases the slot.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import yaml

from driftless.errors import ConfigError, WaitError
from driftless.fleet import FleetNode, Member, RolloutPolicy, Wait, open_coordinator
from driftless.fleet.base import Coordinator, Slot, SlotLost
from driftless.fleet.node import NodeIdentity, identify, selects
from driftless.fleet.peers import Peer, resolve_peers
from driftless.fleet.rollout import tally
from driftless.model import HealthCode

__all__ = ["FleetHook"]

log = logging.getLogger("driftless.agent.fleet")


RECENT = 3  # rollouts per stack shown by the API, the UI and the metrics


def rollout_name(stack: str, revision: str) -> str:
    """One rollout per stack and revision."""
    return f"{stack}.{revision[:20]}"


class FleetHook:
    """One node's membership and rollout slots, for every stack the agent runs."""

    def __init__(self, coord: Coordinator, identity: NodeIdentity, policy: RolloutPolicy, *,
                 ttl: float = 10.0, poll: float = 1.0,
                 peers: Mapping[str, Any] | None = None) -> None:
        self.identity, self.poll = identity, poll
        self.peer_spec: Mapping[str, Any] = peers or {"members": {}}
        self.peers: list[Peer] = []
        self.node = FleetNode(coord, Member(identity.name, identity.tags, "", identity.address),
                              policy, ttl=ttl)
        self.node.start()
        self._held: dict[str, Slot] = {}
        self._failed: dict[str, Slot] = {}
        self._selectors: dict[str, Any] = {}  # stack -> its select:, seen in render
        self._recent: dict[str, list[str]] = {}  # stack -> its last rollouts, newest last
        # what this node did since it started (for the agent's metrics)
        self.events = {"granted": 0, "released": 0, "gate_passed": 0, "gate_failed": 0,
                       "lost": 0}
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name="fleet-lease", daemon=True)
        self._renewer.start()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FleetHook | None:
        """The hook the operator's environment asks for, or ``None`` (fleet mode off)."""
        url = environ.get("DRIFTLESS_FLEET")
        if not url:
            return None
        policy = RolloutPolicy(
            max_unavailable=environ.get("DRIFTLESS_FLEET_MAX_UNAVAILABLE", "1"),
            canary=environ.get("DRIFTLESS_FLEET_CANARY", "1"),
            failure_threshold=environ.get("DRIFTLESS_FLEET_FAILURE_THRESHOLD", "1"),
            health_timeout=float(environ.get("DRIFTLESS_FLEET_HEALTH_TIMEOUT", "60")))
        peers = environ.get("DRIFTLESS_FLEET_PEERS")
        spec = yaml.safe_load(peers) if peers else None
        if spec is not None and not isinstance(spec, Mapping):
            raise ConfigError("DRIFTLESS_FLEET_PEERS must be a map such as "
                              "{members: {role: worker}} or {tags: {Cluster: synkti}}")
        return cls(open_coordinator(url), identify(environ), policy,
                   ttl=float(environ.get("DRIFTLESS_FLEET_TTL", "10")),
                   poll=float(environ.get("DRIFTLESS_FLEET_POLL", "1")), peers=spec)

    def _renew(self) -> None:
        while not self._stop.wait(self.node.ttl / 3):
            try:
                if not self.node.heartbeat():
                    self.events["lost"] += len(self._held)
                    self._held.clear()  # slots died with the old lease
            except Exception as exc:  # the store is down: retry; the lease may run out
                log.warning("fleet lease renewal failed: %s", exc)

    def close(self) -> None:
        """Stop renewing and end the lease (a clean shutdown frees its slots at once)."""
        self._stop.set()
        if self.node.lease is not None:
            try:
                self.node.coord.revoke(self.node.lease)
            except Exception as exc:
                log.warning("fleet lease revoke failed: %s", exc)
        self.node.coord.close()

    # hooks -------------------------------------------------------------------

    def selects(self, project: Any, stack: str) -> bool:
        """Whether the stack's ``select:`` matches this node's tags."""
        doc = project.load(project.stacks[stack].path / "stack.yaml")
        selector = doc.get("select") if isinstance(doc, Mapping) else None
        self._selectors[stack] = selector
        return selects(selector, self.identity.tags)

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` plus this node's values for render: ``${node.name}``, ``node.address``,
        ``node.tags``, ``node.peers`` (``DRIFTLESS_FLEET_NODE``), and the same as
        ``DRIFTLESS_VAR_*`` for stacks that declare them (``node_name``, ``node_address``,
        ``node_tags``, ``fleet_peers``); peers are {name, address, tags, source, revision,
        self}, the peer table resolved now."""
        self.peers = resolve_peers(self.peer_spec, me=self.identity.name, coord=self.node.coord)
        values = {"node_name": self.identity.name, "node_address": self.identity.address,
                  "node_tags": json.dumps(dict(self.identity.tags), sort_keys=True),
                  "fleet_peers": json.dumps([p.row() for p in self.peers], sort_keys=True)}
        node = {"name": self.identity.name, "address": self.identity.address,
                "tags": dict(self.identity.tags), "peers": [p.row() for p in self.peers]}
        return {**base, **{f"DRIFTLESS_VAR_{k}": v for k, v in values.items()},
                "DRIFTLESS_FLEET_NODE": json.dumps(node, sort_keys=True)}

    def status(self) -> dict[str, Any]:
        """This node, its slots and the peer table of the last render (for the API)."""
        return {"node": {"name": self.identity.name, "address": self.identity.address,
                         "tags": dict(self.identity.tags), "source": self.identity.source},
                "slots": {stack: {"rollout": s.rollout, "slot": s.index, "token": s.token}
                          for stack, s in self._held.items()},
                "peers": [p.row() for p in self.peers]}

    def _seen(self, stack: str, name: str) -> None:
        recent = self._recent.setdefault(stack, [])
        if name in recent:
            recent.remove(name)
        recent.append(name)
        del recent[:-RECENT]

    def rollouts(self) -> list[dict[str, Any]]:
        """The rollouts this node took part in or waited on lately (the last few per
        stack), as the store has them now: slots in use and their holders, nodes per
        phase (``fleet.rollout.tally``), the halt. Reads the store."""
        live = {m.node for m in self.node.coord.members()}
        coord, out = self.node.coord, []
        recent = {k: list(v) for k, v in list(self._recent.items())}  # the loop adds to it
        for stack in sorted(recent):
            for name in reversed(recent[stack]):
                record = coord.rollout(name)
                if record is None:
                    continue
                slots = coord.slots(name)
                halt = coord.halted(name)
                out.append({
                    "rollout": name, "stack": stack, "slots": record.slots,
                    "holders": [{"node": s.node, "slot": s.index, "token": s.token}
                                for s in slots],
                    "canary": list(record.canary),
                    "counts": tally(coord.reports(name), slots, live, halt is not None),
                    "halted": None if halt is None else {"reason": halt.reason, "by": halt.by}})
        return out

    def snapshot(self) -> dict[str, Any]:
        """``status()`` plus the rollouts and the members the store has now and this
        node's event counts (for ``GET /api/v1/fleet`` and the metrics). Reads the store."""
        doc = {**self.status(), "events": dict(self.events), "store_error": None}
        try:
            doc["members"] = [{"node": m.node, "revision": m.revision, "address": m.address}
                              for m in self.node.coord.members()]
            doc["rollouts"] = self.rollouts()
        except Exception as exc:  # the store is down: say so, show what the node knows
            doc.update(members=[], rollouts=[], store_error=str(exc)[:200])
        return doc

    def before_apply(self, ctx: Any) -> None:
        """Hold a slot before changing anything for a new revision; else ``WaitError``."""
        rev, st = ctx.revision, ctx.status
        if rev is None or rev in (st.revision, st.last_healthy):
            return
        name = rollout_name(ctx.stack, rev)
        self._seen(ctx.stack, name)
        held = self._held.get(ctx.stack)
        if held is not None and held.rollout == name:
            return
        step = self.node.gate(name, self._selectors.get(ctx.stack))
        if isinstance(step, Wait):
            raise WaitError(f"fleet rollout {name}: {step.reason}", retry_after=self.poll)
        self._held[ctx.stack] = step.slot
        self.events["granted"] += 1
        ctx.notes.append(f"fleet: holding slot {step.slot.index} of {name} "
                         f"(token {step.slot.token})")

    def after_health(self, ctx: Any) -> None:
        """Report the health gate's outcome for the revision this run applied."""
        rev = ctx.revision
        if rev is None:
            return
        self._finish_rollback(ctx)
        slot = self._held.get(ctx.stack)
        name = rollout_name(ctx.stack, rev)
        if slot is None or slot.rollout != name:
            self._healthy_without_changes(ctx, name)
            return
        ok, message = self._gate(ctx)
        try:
            self._report(ctx, slot, ok, message)
        except SlotLost:
            del self._held[ctx.stack]  # the lease ran out: the slot is someone else's now
            self.events["lost"] += 1
            raise
        # other errors (store unreachable) keep the slot: the next run reports again
        del self._held[ctx.stack]

    def _report(self, ctx: Any, slot: Slot, ok: bool, message: str) -> None:
        rev, name = ctx.revision, slot.rollout
        if ok:
            self.node.passed(slot, message)
            self.events["gate_passed"] += 1
            self.events["released"] += 1
            self.node.announce(rev)
            return
        halt = self.node.failed(slot, message)
        self.events["gate_failed"] += 1
        ctx.notes.append(f"fleet: {name} failed its health gate ({message})"
                         + (f"; rollout halted: {halt.reason}" if halt else ""))
        last = ctx.status.last_healthy
        if last and last != rev and not ctx.status.controls.pinned:
            ctx.mark_bad = rev  # the next run returns to the last healthy revision
            self._failed[ctx.stack] = slot
        else:
            self.node.coord.release(slot)  # nothing to return to: free the slot now
            self.events["released"] += 1

    def _finish_rollback(self, ctx: Any) -> None:
        slot = self._failed.get(ctx.stack)
        if slot is None or rollout_name(ctx.stack, ctx.revision) == slot.rollout:
            return
        if ctx.health is not None and ctx.health.code is HealthCode.HEALTHY:
            del self._failed[ctx.stack]
            self.node.rolled_back(slot, ctx.revision)
            self.events["released"] += 1

    def _healthy_without_changes(self, ctx: Any, name: str) -> None:
        """A node with nothing to change for a new revision still counts as healthy on it."""
        st = ctx.status
        if ctx.revision in (st.revision, st.last_healthy) or ctx.failed():
            return
        if ctx.health is None or ctx.health.code is not HealthCode.HEALTHY:
            return
        self._seen(ctx.stack, name)
        self.node.unchanged(name, self._selectors.get(ctx.stack))
        self.node.announce(ctx.revision)

    def _gate(self, ctx: Any) -> tuple[bool, str]:
        """Wait while Progressing, up to the rollout's health timeout; (passed, why)."""
        if ctx.failed():
            return False, f"{len(ctx.failed())} resources failed to apply"
        record = self.node.coord.rollout(self._held[ctx.stack].rollout)
        deadline = time.monotonic() + (record.health_timeout if record else 60.0)
        health = ctx.health
        while health is not None and health.code is HealthCode.PROGRESSING:
            if time.monotonic() >= deadline:
                return False, "health gate timed out while Progressing"
            time.sleep(min(1.0, self.poll))
            healths = ctx.engine.health(ctx.stack)
            health = type(health).worst(list(healths.values()))
        if health is None or health.code is HealthCode.HEALTHY:
            return True, "healthy"
        return False, f"health {health.code.label}: {health.message}"[:200]
