"""The local host provider: files, commands, templates, checkouts, services.

It is driftless's embedded default target. Each kind lives in its own module
exposing ``HANDLERS``; this module only says which module holds which kind,
so that a run imports only the kinds it uses (``download`` pulls in an HTTP
client, ``template`` the Jinja2 sandbox, ``service`` the supervisor).
"""

from __future__ import annotations

from typing import ClassVar

from driftless.providers.registry import LazyKindProvider

__all__ = ["LocalProvider"]

KIND_MODULES = {
    "file": "files",
    "directory": "files",
    "symlink": "files",
    "command": "command",
    "template": "template",
    "env_file": "env_file",
    "git_checkout": "git_checkout",
    "download": "download",
    "marker_wait": "marker",
    "service": "service",
    "systemd_unit": "systemd",
    "container": "container",
}
"""kind -> the module of this package whose ``HANDLERS`` define it (a test
checks it against every module's ``HANDLERS``)."""


class LocalProvider(LazyKindProvider):
    """Resources on this machine, run as the user driftless runs as."""

    name: ClassVar[str] = "local"

    def __init__(self) -> None:
        super().__init__(__name__, KIND_MODULES)
