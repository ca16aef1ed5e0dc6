"""Webhook receiver: verify, de-duplicate, match the branch, wake the source.

No network I/O of its own (the HTTP layer hands it headers and the body);
it logs every rejected or ignored delivery. Signatures are checked with the
source layer's constant-time helpers before the body is even parsed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from driftless.agent.config import SourceConfig
from driftless.errors import DriftlessError
from driftless.model import reveal
from driftless.source import SourceSpec
from driftless.source.webhook import ReplayGuard, event_matches, parse_push, verify

if TYPE_CHECKING:
    from driftless.agent.loop import Agent

__all__ = ["HookReceiver"]

log = logging.getLogger("driftless.agent.hooks")
KINDS = ("github", "gitlab", "generic")


def _secret(kind: str, cfg: SourceConfig) -> bytes | None:
    hook = cfg.webhook
    secret = {"github": hook.github, "gitlab": hook.gitlab, "generic": hook.hmac}[kind]
    return None if secret is None else str(reveal(secret)).encode()


def _verified(kind: str, cfg: SourceConfig, headers: Mapping[str, str], body: bytes) -> bool:
    secret = _secret(kind, cfg)
    return secret is not None and verify(kind, secret, headers, body)


class HookReceiver:
    """Turns verified push deliveries into wake-ups of the matching sources."""

    def __init__(self, agent: Agent, *, max_entries: int = 10_000) -> None:
        self.agent = agent
        self.replays = ReplayGuard(max_entries)

    def receive(self, kind: str, headers: Mapping[str, str],
                body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON doc) for one delivery."""
        headers = {k.lower(): v for k, v in headers.items()}
        if kind not in KINDS:
            return 404, {"error": f"unknown webhook kind '{kind}'", "kinds": list(KINDS)}
        configs = self.agent.sources.configs.values()
        matching = [c for c in configs if _verified(kind, c, headers, body)]
        if not matching:
            log.warning("webhook %s rejected: bad or missing signature", kind)
            return 401, {"error": "bad or missing webhook signature"}
        try:
            event = parse_push(kind, headers, body)
        except (DriftlessError, ValueError) as exc:
            log.warning("webhook %s ignored: %s", kind, exc)
            return 400, {"error": f"not a push event: {exc}"}
        if event is None:
            return 200, {"ignored": "not a push event"}
        if not self.replays.accept(event.delivery_id):
            log.warning("webhook %s ignored: replay of delivery %s", kind, event.delivery_id)
            return 200, {"ignored": "replay", "delivery": event.delivery_id}
        woken = [c.name for c in matching if event_matches(event, _spec(c))]
        if not woken:
            log.info("webhook %s ignored: push to %s matches no source", kind, event.ref)
            return 200, {"ignored": "other ref", "ref": event.ref}
        for name in woken:
            self.agent.request(source=name, trigger="webhook")
        return 202, {"accepted": True, "sources": woken}


def _spec(cfg: SourceConfig) -> SourceSpec:
    return SourceSpec(url=cfg.url, ref=cfg.ref, path=cfg.path, name=cfg.name)
