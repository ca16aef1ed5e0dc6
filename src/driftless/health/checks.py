"""Health checks: probes plus a grace period and success/failure thresholds.

``assess`` answers "how healthy is it now" (``Provider.health``); ``wait_healthy``
waits after a start until the check passes or clearly fails (``create``).
Both take an ``alive`` callback so a process that died is reported as such
instead of as a failing probe. The only I/O is what the probes do, plus
sleeping between attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from driftless.health.probes import Probe, ProbeResult
from driftless.model import Health, HealthCode
from driftless.records import record

__all__ = ["Alive", "HealthCheck", "assess", "wait_healthy"]

Alive = Callable[[], "Health | None"]
"""None while the watched thing runs; otherwise the Health saying why not."""

_SETTLE = 0.5
_STARTING = 0.05  # seconds between probes while a new process comes up


@record
class HealthCheck:
    """Probes (all must pass) and how to judge them over time (seconds)."""

    probes: tuple[Probe, ...] = ()
    grace_period: float = 10.0
    interval: float = 1.0
    timeout: float = 2.0
    success_threshold: int = 1
    failure_threshold: int = 3

    def probe(self) -> ProbeResult:
        """Run the probes in order; the first failure wins, and the probes after it
        are not run (a port-owner scan after a refused connection costs ~40 ms of
        CPU and cannot change the answer)."""
        results = []
        for probe in self.probes:
            result = probe.check(timeout=self.timeout)
            if not result.ok:
                return result
            results.append(result)
        return ProbeResult(True, "; ".join(r.message for r in results))

    def in_grace(self, started_at: float, *, now: float | None = None) -> bool:
        """Whether a start at ``started_at`` (epoch seconds) is still in grace."""
        return (now if now is not None else time.time()) < started_at + self.grace_period


def assess(check: HealthCheck, *, started_at: float, alive: Alive) -> Health:
    """Health now: a short run of probes, judged by the thresholds.

    Failing within the grace period is PROGRESSING; after it, DEGRADED once
    ``failure_threshold`` probes in a row failed. At most
    ``success_threshold + failure_threshold`` probes run, so a flapping
    service cannot keep this call busy.
    """
    down = alive()
    if down is not None:
        return down
    if not check.probes:
        return Health.healthy("running (no health check configured)")
    successes = failures = 0
    for attempt in range(check.success_threshold + check.failure_threshold):
        if attempt:
            time.sleep(check.interval)
            if (down := alive()) is not None:
                return down
        result = check.probe()
        successes, failures = (successes + 1, 0) if result.ok else (0, failures + 1)
        verdict = _verdict(check, result, successes, failures, started_at)
        if verdict is not None:
            return verdict
    return Health(HealthCode.DEGRADED, f"flapping: {result.message}")


def _verdict(
    check: HealthCheck, result: ProbeResult, successes: int, failures: int, started_at: float
) -> Health | None:
    if successes >= check.success_threshold:
        return Health.healthy(result.message)
    if result.ok:
        return None
    if check.in_grace(started_at):
        return Health(HealthCode.PROGRESSING, f"starting: {result.message}")
    if failures >= check.failure_threshold:
        return Health(HealthCode.DEGRADED, result.message)
    return None


def wait_healthy(check: HealthCheck, *, started_at: float, alive: Alive) -> Health:
    """Wait until healthy, dead, or failing ``failure_threshold`` times after grace.

    Returns HEALTHY, or the Health that explains the failure (its message is
    the last probe's message, for the apply result).
    """
    if not check.probes:
        time.sleep(min(check.grace_period, _SETTLE))
        down = alive()
        return down if down is not None else Health.healthy("running (no health check)")
    successes = late_failures = 0
    result: ProbeResult | None = None
    while True:
        if (down := alive()) is not None:
            return _died(down, result)
        result = check.probe()
        successes = successes + 1 if result.ok else 0
        if successes >= check.success_threshold:
            return Health.healthy(result.message)
        if not result.ok and not check.in_grace(started_at):
            late_failures += 1
            if late_failures >= check.failure_threshold:
                return Health(
                    HealthCode.DEGRADED,
                    f"not healthy after the {check.grace_period:g}s grace period: "
                    f"{result.message}",
                )
        time.sleep(_pause(check, started_at, successes))


def _pause(check: HealthCheck, started_at: float, successes: int) -> float:
    """Until the first success within the grace period, probe every ``_STARTING``
    seconds: a server that needs 0.15 s to listen would otherwise cost a whole
    ``interval``. Failures there do not count, and once one probe passed the
    thresholds are counted at ``interval`` as configured."""
    if successes == 0 and check.in_grace(started_at):
        return min(check.interval, _STARTING)
    return check.interval


def _died(down: Health, last: ProbeResult | None) -> Health:
    """The death, with what the last failed probe saw: a process that exits while
    starting often says why only there (its port held by another process)."""
    if last is None or last.ok:
        return down
    return Health(down.code, f"{down.message}; last check: {last.message}")
