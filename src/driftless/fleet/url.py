"""Open the coordinator a fleet URL names.

I/O: none until the chosen backend connects. URLs::

    etcd://127.0.0.1:2379/driftless/fleet          (the path is the key prefix)
    dynamodb://table?region=eu-west-1&endpoint=...
    postgres://user@host:5432/db?schema=driftless_fleet
    memory://                                      (one process only: tests)
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from driftless.errors import ConfigError
from driftless.fleet.base import Coordinator

__all__ = ["open_coordinator"]


def open_coordinator(url: str) -> Coordinator:
    """The coordinator for ``url``; a ``ConfigError`` naming the schemes otherwise."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if parts.scheme in ("etcd", "etcd+http"):
        from driftless.fleet.etcd import EtcdCoordinator

        return EtcdCoordinator(f"http://{parts.netloc}", prefix=parts.path or "/driftless/fleet")
    if parts.scheme == "dynamodb":
        from driftless.fleet.dynamo import DynamoCoordinator

        return DynamoCoordinator(parts.netloc, region=query.get("region"),
                                 endpoint=query.get("endpoint"))
    if parts.scheme in ("postgres", "postgresql"):
        from driftless.fleet.postgres import PostgresCoordinator

        return PostgresCoordinator(url)
    if parts.scheme == "memory":
        from driftless.fleet.memory import MemoryCoordinator

        return MemoryCoordinator()
    raise ConfigError(f"fleet store {url!r}: unknown scheme {parts.scheme!r}",
                      hint="use etcd://host:2379/prefix, dynamodb://table?region=..., "
                           "or postgres://user@host/db?schema=...")
