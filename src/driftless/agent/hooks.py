"""Webhook receiver: verify, de-duplicate, match the branch, wake the source.

No network I/O of its own (the HTTP layer hands it headers and the body,
already capped at the configured size); it logs rejected and ignored
deliveries. Signatures are checked with the source layer's constant-time
helpers before the body is even parsed, each provider against its own
secret only: a GitLab delivery is never checked against the GitHub secret
unless the operator configured the same secret for both.

Failed signatures are counted per client address (``FailedSignatures``):
past ``limit`` in one interval the address gets 429 without a check, and
the log gets one line per address per interval, with the count, however
many forgeries arrive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from driftless.agent.config import SourceConfig
from driftless.errors import DriftlessError
from driftless.model import reveal
from driftless.records import record
from driftless.source import SourceSpec
from driftless.source.webhook import ReplayGuard, event_matches, parse_push, verify

if TYPE_CHECKING:
    from driftless.agent.loop import Agent

__all__ = ["FailedSignatures", "HookReceiver"]

log = logging.getLogger("driftless.agent.hooks")
KINDS = ("github", "gitlab", "generic")


def _secret(kind: str, cfg: SourceConfig) -> bytes | None:
    hook = cfg.webhook
    secret = {"github": hook.github, "gitlab": hook.gitlab, "generic": hook.hmac}[kind]
    return None if secret is None else str(reveal(secret)).encode()


def _verified(kind: str, cfg: SourceConfig, headers: Mapping[str, str], body: bytes) -> bool:
    secret = _secret(kind, cfg)
    return secret is not None and verify(kind, secret, headers, body)


@record(frozen=False)
class _Window:
    start: float
    count: int = 0
    kinds: set[str] | None = None


class FailedSignatures:
    """Failed signatures per client address: a budget per interval and a quiet log.

    The first failure of an address is logged at once; later ones in the same
    interval are counted and reported in one line when the interval ends
    (``flush``, called by the agent loop and by every failure). Past ``limit``
    failures in an interval the address is ``blocked`` until it ends.
    """

    def __init__(self, *, limit: int = 20, interval: float = 60.0, max_clients: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.interval, self.max_clients = limit, interval, max_clients
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str) -> bool:
        """Whether ``client`` used up its failures for this interval."""
        with self._lock:
            w = self._windows.get(client)
            return (w is not None and self._clock() - w.start < self.interval
                    and w.count >= self.limit)

    def failed(self, client: str, kind: str) -> None:
        """Count one failed signature of ``client``; log per the policy above."""
        self.flush()
        with self._lock:
            w = self._windows.get(client)
            if w is None:
                self._windows[client] = _Window(self._clock(), 1, {kind})
                first = True
            else:
                w.count += 1
                (w.kinds or set()).add(kind)
                first = False
            self._bound()
        if first:
            log.warning("webhook %s from %s rejected: bad or missing signature (further "
                        "failures from this address are counted and logged once per %ds)",
                        kind, client, int(self.interval))

    def flush(self) -> None:
        """Report and forget every interval that has ended."""
        now = self._clock()
        with self._lock:
            ended = [(c, w) for c, w in self._windows.items() if now - w.start >= self.interval]
            for client, _ in ended:
                del self._windows[client]
        for client, w in ended:
            self._report(client, w)

    def _bound(self) -> None:
        # A flood from many addresses: report and drop the oldest windows early.
        while len(self._windows) > self.max_clients:
            client = next(iter(self._windows))
            self._report(client, self._windows.pop(client))

    def _report(self, client: str, w: _Window) -> None:
        if w.count > 1:
            kinds = ",".join(sorted(w.kinds or ()))
            log.warning("webhook %s from %s: %d failed signatures in %ds (%d refused unchecked)",
                        kinds, client, w.count, int(self.interval),
                        max(0, w.count - self.limit))


class HookReceiver:
    """Turns verified push deliveries into wake-ups of the matching sources."""

    def __init__(self, agent: Agent, *, max_entries: int = 10_000) -> None:
        self.agent = agent
        self.replays = ReplayGuard(max_entries)
        self.failures = FailedSignatures()

    def blocked(self, client: str) -> bool:
        """Refuse ``client`` before reading its body (too many failed signatures)."""
        if self.failures.blocked(client):
            self.failures.failed(client, "any")
            return True
        return False

    def receive(self, kind: str, headers: Mapping[str, str], body: bytes, *,
                client: str = "unknown") -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON doc) for one delivery."""
        headers = {k.lower(): v for k, v in headers.items()}
        if kind not in KINDS:
            return 404, {"error": f"unknown webhook kind '{kind}'", "kinds": list(KINDS)}
        configs = self.agent.sources.configs.values()
        matching = [c for c in configs if _verified(kind, c, headers, body)]
        if not matching:
            self.failures.failed(client, kind)
            return 401, {"error": "bad or missing webhook signature"}
        try:
            event = parse_push(kind, headers, body)
        except (DriftlessError, ValueError) as exc:
            log.warning("webhook %s ignored: %s", kind, exc)
            return 400, {"error": f"not a push event: {exc}"}
        if event is None:
            return 200, {"ignored": "not a push event"}
        if not self.replays.accept_delivery(event.delivery_id, body):
            log.info("webhook %s ignored: replay of delivery %s", kind, event.delivery_id)
            return 200, {"ignored": "replay", "delivery": event.delivery_id}
        woken = [c.name for c in matching if event_matches(event, _spec(c))]
        if not woken:
            log.info("webhook %s ignored: push to %s matches no source", kind, event.ref)
            return 200, {"ignored": "other ref", "ref": event.ref}
        for name in woken:
            self.agent.request(source=name, trigger="webhook", after=event.after)
        return 202, {"accepted": True, "sources": woken}


def _spec(cfg: SourceConfig) -> SourceSpec:
    return SourceSpec(url=cfg.url, ref=cfg.ref, path=cfg.path, name=cfg.name)
