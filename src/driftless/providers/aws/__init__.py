"""The aws provider (placeholder until its kinds land)."""

from __future__ import annotations

from typing import ClassVar

from driftless.providers.base import KindProvider

__all__ = ["AwsProvider"]


class AwsProvider(KindProvider):
    """Placeholder: no kinds yet."""

    name: ClassVar[str] = "aws"

    def __init__(self) -> None:
        super().__init__({})
