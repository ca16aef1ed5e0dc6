"""The random provider (placeholder until its kinds land)."""

from __future__ import annotations

from typing import ClassVar

from driftless.providers.base import KindProvider

__all__ = ["RandomProvider"]


class RandomProvider(KindProvider):
    """Placeholder: no kinds yet."""

    name: ClassVar[str] = "random"

    def __init__(self) -> None:
        super().__init__({})
