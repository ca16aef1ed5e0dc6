"""Prometheus metrics of one agent, on its own registry (no global state).

No I/O: the HTTP layer renders ``AgentMetrics.render()`` at GET /metrics.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["AgentMetrics"]


class AgentMetrics:
    """Reconciles, durations, errors, drift found and resources by health."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
