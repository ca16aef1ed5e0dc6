"""The local host provider (placeholder until its kinds land)."""

from __future__ import annotations

from typing import ClassVar

from driftless.providers.base import KindProvider

__all__ = ["LocalProvider"]


class LocalProvider(KindProvider):
    """Files, commands and services on this machine."""

    name: ClassVar[str] = "local"

    def __init__(self) -> None:
        super().__init__({})
