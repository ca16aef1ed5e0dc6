"""Where a resource lives: ``ssh://user@host:port`` parsed into a ``SshTarget``.

No I/O. The query string carries per-target options the operator may set
in an inventory: ``?sudo=1`` runs the host helper (and so every file
operation and command) under ``sudo -n``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from driftless.errors import ConfigError, ProviderError
from driftless.records import record

__all__ = ["HostDown", "SshTarget", "parse_target"]


class HostDown(ProviderError):
    """The host could not be reached, refused us, or dropped the connection."""


@record
class SshTarget:
    """One host as driftless reaches it."""

    host: str
    port: int = 22
    user: str | None = None
    sudo: bool = False

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"ssh://{user}{self.host}:{self.port}{'?sudo=1' if self.sudo else ''}"

    @property
    def known_hosts_name(self) -> str:
        """The host's name as known_hosts writes it (``[host]:port`` off port 22)."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"


def parse_target(text: str) -> SshTarget:
    """``ssh://[user@]host[:port][?sudo=1]`` → ``SshTarget``; a clear ConfigError otherwise."""
    parts = urlsplit(text)
    if parts.scheme != "ssh" or not parts.hostname:
        raise ConfigError(f"target {text!r} is not an ssh:// URL",
                          hint="write ssh://user@host:port, or name a host of the inventory")
    try:
        port = parts.port or 22
    except ValueError:
        raise ConfigError(f"target {text!r} has a bad port") from None
    query = parse_qs(parts.query)
    sudo = query.get("sudo", ["0"])[-1] in ("1", "true", "yes")
    return SshTarget(parts.hostname, port, parts.username or None, sudo)
