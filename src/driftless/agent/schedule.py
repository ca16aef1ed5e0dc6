"""The agent's retry policy: one function maps an outcome to a condition and a delay.

Pure computation, no I/O. Why one function: every place that catches an
error in the loop asks ``next_run`` what it means, so the policy (stall on
bad input, back off on an unreachable source, retry soon on a lock) lives in
one readable table instead of being scattered over ``except`` clauses.
"""

from __future__ import annotations

import random
import time

from driftless.errors import (
    ConfigError,
    DriftlessError,
    LockHeld,
    ProviderError,
    SourceError,
    StateError,
    WaitError,
)
from driftless.model import Condition

__all__ = ["BACKOFF_BASE", "BACKOFF_MAX", "LOCK_RETRY", "backoff", "next_run"]

BACKOFF_BASE = 2.0
BACKOFF_MAX = 300.0
LOCK_RETRY = 5.0
JITTER = 0.1


def backoff(attempt: int, *, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX,
            rng: random.Random | None = None) -> float:
    """Exponential backoff with +-10 % jitter: 2, 4, 8, ... seconds, at most ``cap``."""
    delay = min(cap, base * (2 ** max(0, attempt)))
    return _jitter(delay, rng)


def _jitter(delay: float, rng: random.Random | None) -> float:
    # Jitter spreads many agents (a fleet) that failed together over time.
    r = rng if rng is not None else random.Random()
    return max(0.0, delay * (1.0 + r.uniform(-JITTER, JITTER)))


def next_run(
    exc: BaseException | None,
    attempt: int,
    *,
    interval: float = 60.0,
    rng: random.Random | None = None,
) -> tuple[Condition, float]:
    """The condition a run ended in and the seconds until the next one.

    * success → Ready, next poll after ``interval`` (jittered);
    * ConfigError / RenderError → Stalled; the stack is not retried until the
      revision changes (the caller checks that), next look after ``interval``;
    * SourceError → not Ready, exponential backoff with jitter by ``attempt``;
    * LockHeld → not Ready, retry after a few seconds;
    * WaitError → not Ready, retry after ``exc.retry_after``;
    * anything else → not Ready, exponential backoff.
    """
    now = time.time()
    if exc is None:
        return Condition("Ready", True, "ReconciliationSucceeded", "", now), _jitter(interval, rng)
    message = str(exc)
    if isinstance(exc, ConfigError):
        return Condition("Stalled", True, type(exc).__name__, message, now), _jitter(interval, rng)
    if isinstance(exc, WaitError):
        return Condition("Ready", False, "DependencyNotReady", message, now), exc.retry_after
    if isinstance(exc, LockHeld):
        return Condition("Ready", False, "LockHeld", message, now), _jitter(LOCK_RETRY, rng)
    reason = _failure_reason(exc)
    return Condition("Ready", False, reason, message, now), backoff(attempt, rng=rng)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return "SourceUnavailable"
    if isinstance(exc, ProviderError):
        return "ProviderFailed"
    if isinstance(exc, StateError):
        return "StateUnavailable"
    if isinstance(exc, DriftlessError):
        return "ReconcileFailed"
    return "InternalError"
