"""Desired and live resources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from driftless.model.ids import ResourceId
from driftless.records import record

__all__ = ["LiveResource", "Resource", "SourceLocation"]


@record(slots=True)
class SourceLocation:
    """Where a resource was declared, for messages: ``file:line:col``."""

    file: str
    line: int
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@record(slots=True)
class Resource:
    """One desired resource after rendering.

    ``properties`` may hold ``Sensitive`` and ``Deferred`` values. ``depends_on``
    lists explicit and reference-implied dependencies. ``protect`` refuses
    deletion; the flag is copied into state so it survives removal from config.
    ``triggered_by`` lists resources whose change in an apply re-applies this
    one (a service restarts, a command re-runs) exactly once; they are
    implicitly dependencies too.
    """

    id: ResourceId
    properties: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[ResourceId, ...] = ()
    protect: bool = False
    source: SourceLocation | None = None
    triggered_by: tuple[ResourceId, ...] = ()

    def where(self) -> str:
        """The address, plus the declaring file:line when known."""
        return f"{self.id} ({self.source})" if self.source else str(self.id)


@record(slots=True)
class LiveResource:
    """What a provider read or created.

    ``attributes`` are public (shown in plans and ``state show``, usable in
    references); ``private`` is provider bookkeeping (pids, inode/mtime
    fingerprints, cloud ids) kept in state but never shown.
    """

    id: ResourceId
    attributes: Mapping[str, Any] = field(default_factory=dict)
    private: Mapping[str, Any] = field(default_factory=dict)
