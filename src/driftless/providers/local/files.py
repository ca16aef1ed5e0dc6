"""local provider kinds: files (placeholder until the kind lands)."""

from __future__ import annotations

from driftless.providers.base import KindHandler

__all__ = ["HANDLERS"]

HANDLERS: dict[str, KindHandler] = {}
