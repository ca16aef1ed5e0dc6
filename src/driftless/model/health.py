"""Health: ordered codes so the worst of many is a ``max``."""

from __future__ import annotations

from enum import IntEnum

from driftless.records import record

__all__ = ["Health", "HealthCode"]


class HealthCode(IntEnum):
    """Ordered from best to worst; aggregate with ``max``."""

    HEALTHY = 0
    PROGRESSING = 1
    SUSPENDED = 2
    MISSING = 3
    DEGRADED = 4
    UNKNOWN = 5

    @property
    def label(self) -> str:
        """``Healthy``, ``Progressing``, ... as users read it."""
        return self.name.capitalize()


@record(slots=True)
class Health:
    """A health code with a human message (empty when healthy)."""

    code: HealthCode
    message: str = ""

    @classmethod
    def healthy(cls, message: str = "") -> Health:
        """Shorthand for a healthy result."""
        return cls(HealthCode.HEALTHY, message)

    @classmethod
    def worst(cls, items: list[Health]) -> Health:
        """The worst of several; healthy when there are none."""
        if not items:
            return cls.healthy()
        return max(items, key=lambda h: h.code)
