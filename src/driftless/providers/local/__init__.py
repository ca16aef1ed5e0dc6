"""The local host provider: files, commands, templates, checkouts, services.

It is driftless's embedded default target. Each kind lives in its own module
exposing ``HANDLERS``; this module only assembles them.
"""

from __future__ import annotations

from typing import ClassVar

from driftless.providers.base import KindHandler, KindProvider
from driftless.providers.local import (
    command,
    download,
    env_file,
    files,
    git_checkout,
    marker,
    service,
    systemd,
    template,
)

__all__ = ["LocalProvider"]

_MODULES = (files, command, template, env_file, git_checkout, download, marker, service, systemd)


class LocalProvider(KindProvider):
    """Resources on this machine, run as the user driftless runs as."""

    name: ClassVar[str] = "local"

    def __init__(self) -> None:
        handlers: dict[str, KindHandler] = {}
        for module in _MODULES:
            handlers.update(module.HANDLERS)
        super().__init__(handlers)
