"""Prometheus metrics of one agent, on its own registry (no global state).

No I/O of its own: the HTTP layer renders ``AgentMetrics.render(fleet)`` at
GET /metrics; in fleet mode that reads the fleet store through
``FleetHook.snapshot()`` on every scrape (the ``driftless_fleet_*`` metrics).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["AgentMetrics", "FleetSource"]

PHASES = ("pending", "in_progress", "healthy", "failed", "halted", "lost")
EVENTS = {"granted": "driftless_fleet_slot_grants",
          "released": "driftless_fleet_slot_releases",
          "gate_passed": "driftless_fleet_health_gates_passed",
          "gate_failed": "driftless_fleet_health_gates_failed",
          "lost": "driftless_fleet_slots_lost"}
EVENT_HELP = {"granted": "Rollout slots this node was granted",
              "released": "Rollout slots this node released (healthy, rolled back, or "
                          "failed with nothing to return to)",
              "gate_passed": "Health gates this node passed under a slot",
              "gate_failed": "Health gates this node failed (or timed out) under a slot",
              "lost": "Slots this node lost with its lease"}


class FleetSource(Protocol):
    """What the fleet metrics read: ``agent.fleet.FleetHook``."""

    def snapshot(self) -> dict[str, Any]: ...


class _FleetCollector(Collector):
    """The ``driftless_fleet_*`` metrics, read from the hook at each scrape."""

    def __init__(self, source: FleetSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snap = self.source.snapshot()
        node = snap["node"]["name"]
        up = GaugeMetricFamily("driftless_fleet_store_up",
                               "1 when this scrape could read the fleet store", labels=["node"])
        up.add_metric([node], 0 if snap.get("store_error") else 1)
        yield up
        held = GaugeMetricFamily("driftless_fleet_slot_held",
                                 "1 while this node holds a rollout slot for the stack",
                                 labels=["stack", "rollout", "slot"])
        for stack, slot in sorted(snap["slots"].items()):
            held.add_metric([stack, slot["rollout"], str(slot["slot"])], 1)
        yield held
        yield GaugeMetricFamily("driftless_fleet_slots_held",
                                "Rollout slots this node holds now", value=len(snap["slots"]))
        yield GaugeMetricFamily("driftless_fleet_peers",
                                "Peers in this node's peer table (last render)",
                                value=len(snap["peers"]))
        yield GaugeMetricFamily("driftless_fleet_members",
                                "Live members of the fleet in the store",
                                value=len(snap.get("members", [])))
        nodes = GaugeMetricFamily(
            "driftless_fleet_rollout_nodes",
            "Nodes per phase of the rollouts this node took part in lately, as the store has "
            "them", labels=["stack", "rollout", "phase"])
        in_use = GaugeMetricFamily("driftless_fleet_rollout_slots_in_use",
                                   "Slots held by any node", labels=["stack", "rollout"])
        limit = GaugeMetricFamily("driftless_fleet_rollout_slots",
                                  "Slots the rollout allows", labels=["stack", "rollout"])
        halted = GaugeMetricFamily("driftless_fleet_rollout_halted",
                                   "1 while the rollout is halted", labels=["stack", "rollout"])
        any_halt = 0
        for r in snap.get("rollouts", []):
            key = [r["stack"], r["rollout"]]
            for phase in PHASES:
                nodes.add_metric([*key, phase], r["counts"].get(phase, 0))
            in_use.add_metric(key, len(r["holders"]))
            limit.add_metric(key, r["slots"])
            halted.add_metric(key, 1 if r["halted"] else 0)
            any_halt |= 1 if r["halted"] else 0
        yield from (nodes, in_use, limit, halted)
        yield GaugeMetricFamily("driftless_fleet_halted",
                                "1 while any of those rollouts is halted", value=any_halt)
        for event, name in EVENTS.items():
            yield CounterMetricFamily(name, EVENT_HELP[event], value=snap["events"][event])


class AgentMetrics:
    """Reconciles, durations, errors, drift found and resources by health."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._fleet: _FleetCollector | None = None
        self.reconciles = Counter(
            "driftless_reconciles", "Reconcile runs by stack and result",
            ["stack", "result"], registry=self.registry)
        self.duration = Histogram(
            "driftless_reconcile_duration_seconds", "Duration of reconcile runs",
            ["stack"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
        self.errors = Counter(
            "driftless_reconcile_errors", "Failed reconcile runs by stack and reason",
            ["stack", "reason"], registry=self.registry)
        self.drift = Counter(
            "driftless_drift_found", "Resources found drifted from Git",
            ["stack"], registry=self.registry)
        self.resources = Gauge(
            "driftless_resources", "Managed resources by stack and health",
            ["stack", "health"], registry=self.registry)
        self.fetches = Counter(
            "driftless_source_fetches", "Git fetches (ls-remote, then fetch if needed)",
            ["source", "trigger"], registry=self.registry)
        self.source_up = Gauge(
            "driftless_source_available", "1 while the last fetch of the source succeeded",
            ["source"], registry=self.registry)

    def fetched(self, source: str, *, ok: bool, trigger: str) -> None:
        """Record one fetch of ``source`` (asked by a poll or a webhook) and whether git
        answered."""
        self.fetches.labels(source, trigger).inc()
        self.source_up.labels(source).set(1 if ok else 0)

    def observe(self, *, stack: str, result: str, duration: float,
                error_reason: str | None, drifted: int, by_health: Mapping[str, int]) -> None:
        """Record one run."""
        self.reconciles.labels(stack, result).inc()
        self.duration.labels(stack).observe(duration)
        if error_reason:
            self.errors.labels(stack, error_reason).inc()
        if drifted:
            self.drift.labels(stack).inc(drifted)
        if by_health:
            for label in ("Healthy", "Progressing", "Suspended", "Missing", "Degraded", "Unknown"):
                self.resources.labels(stack, label).set(by_health.get(label, 0))

    def render(self, fleet: FleetSource | None = None) -> bytes:
        """The Prometheus text exposition; with ``fleet`` (fleet mode), the
        ``driftless_fleet_*`` metrics too (the first call registers them)."""
        if fleet is not None and self._fleet is None:
            self._fleet = _FleetCollector(fleet)
            self.registry.register(self._fleet)
        return generate_latest(self.registry)
