"""Open a state backend from its URL (``sqlite:///...``, ``s3://bucket/key``).

Schemes map to factories imported lazily, so boto3 is only imported when an
``s3://`` URL is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from driftless.errors import ConfigError
from driftless.state.base import StateBackend

__all__ = ["open_backend", "register_scheme"]

Factory = Callable[[str, Path], StateBackend]

_SCHEMES: dict[str, str] = {
    "sqlite": "driftless.state.sqlite:from_url",
    "s3": "driftless.state.s3:from_url",
}
_EXTRA: dict[str, Factory] = {}


def register_scheme(scheme: str, factory: Factory) -> None:
    """Add a backend scheme (plugins, tests)."""
    _EXTRA[scheme] = factory


def open_backend(url: str, *, root: Path) -> StateBackend:
    """The backend for ``url``; relative paths are relative to ``root``."""
    scheme = urlsplit(url).scheme
    if scheme in _EXTRA:
        return _EXTRA[scheme](url, root)
    target = _SCHEMES.get(scheme)
    if target is None:
        known = ", ".join(sorted({*_SCHEMES, *_EXTRA}))
        raise ConfigError(
            f"unknown state backend '{url}'",
            hint=f"use one of the schemes: {known} (e.g. sqlite:///.driftless/state.db)",
        )
    module, _, attr = target.partition(":")
    factory: Factory = getattr(importlib.import_module(module), attr)
    return factory(url, root)
