"""The ssh provider's settings (``providers.ssh`` in driftless.yaml). No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from driftless.providers.ssh.hostkeys import HostKeyPolicy
from driftless.records import record

__all__ = ["Settings", "settings_from"]


@record
class Settings:
    """How to reach hosts: keys, host key policy, timeouts, parallelism."""

    identity: Sequence[str] = ()
    hostkeys: HostKeyPolicy = field(default_factory=HostKeyPolicy)
    connect_timeout: float = 10.0
    request_timeout: float = 120.0
    keepalive: float = 15.0
    parallel: int = 32
    user: str | None = None
    python: str | None = None  # the host's interpreter (default: /usr/bin/python3, python3)


def settings_from(config: Mapping[str, Any]) -> Settings:
    """``providers.ssh`` of driftless.yaml as ``Settings``."""
    identity = config.get("identity") or ()
    known = config.get("known_hosts", ["~/.ssh/known_hosts"])
    return Settings(
        identity=(identity,) if isinstance(identity, str) else tuple(identity),
        hostkeys=HostKeyPolicy(
            known_hosts=(known,) if isinstance(known, str) else tuple(known),
            trust_on_first_use=bool(config.get("trust_on_first_use", False)),
            tofu_file=config.get("tofu_file", ".driftless/ssh_known_hosts")),
        connect_timeout=float(config.get("connect_timeout", 10.0)),
        request_timeout=float(config.get("request_timeout", 120.0)),
        keepalive=float(config.get("keepalive", 15.0)),
        parallel=int(config.get("parallel", 32)),
        user=config.get("user"), python=config.get("python"))
