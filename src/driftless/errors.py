"""The exception tree of driftless, in one place.

Why one tree: the agent's schedule maps an exception class to a condition and
the next run time, and the CLI maps it to an exit code and a one-screen
message. Per-resource failures are *data* (``ApplyResult``), not exceptions.

::

    DriftlessError
    ├─ ConfigError       bad input; stalled until the revision changes
    │  └─ RenderError    collects every problem, each with file:line:col
    ├─ SourceError       git unreachable, bad ref; retried with backoff
    ├─ WaitError         dependency not ready; carries retry_after
    ├─ ProviderError     carries the ResourceId and ``retryable``
    └─ StateError        the state backend refused or is unusable
       ├─ LockHeld       another process holds the stack's lock
       ├─ StateConflict  stale serial or foreign lineage on write
       └─ StalePlanError a saved plan no longer matches the world
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from driftless.records import record

if TYPE_CHECKING:
    from driftless.model.ids import ResourceId
    from driftless.model.lock import LockInfo

__all__ = [
    "ConfigError",
    "DriftlessError",
    "LockHeld",
    "Problem",
    "ProviderError",
    "RenderError",
    "SourceError",
    "StalePlanError",
    "StateConflict",
    "StateError",
    "WaitError",
    "settings_mapping",
]


class DriftlessError(Exception):
    """Base of every error driftless raises on purpose.

    ``hint`` is the "how to fix it" line the CLI prints under the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(DriftlessError):
    """The user's input is wrong; retrying the same revision cannot help."""


@record
class Problem:
    """One problem found in the user's files, with where it is."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None

    def where(self) -> str:
        """``file:line:col`` as far as it is known."""
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}"


class RenderError(ConfigError):
    """Every problem found while loading and rendering, reported together."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = str(self.problems[0]) if self.problems else "render failed"
        more = len(self.problems) - 1
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(first + suffix)


class SourceError(DriftlessError):
    """The source of truth (git) could not be read; worth retrying later."""


class WaitError(DriftlessError):
    """Something this work depends on is not ready yet."""

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderError(DriftlessError):
    """A provider failed on one resource; ``retryable`` drives backoff."""

    def __init__(
        self,
        message: str,
        *,
        resource: ResourceId | None = None,
        retryable: bool = False,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        prefix = f"{resource}: " if resource is not None else ""
        super().__init__(prefix + message, hint=hint)
        self.resource = resource
        self.retryable = retryable
        self.code = code


class StateError(DriftlessError):
    """The state backend refused an operation or holds unusable data."""


class LockHeld(StateError):
    """Another process holds the lock; ``info`` says who, what and since when."""

    def __init__(self, stack: str, info: LockInfo) -> None:
        self.stack = stack
        self.info = info
        super().__init__(
            f"stack '{stack}' is locked by {info.describe()} "
            f"for {info.age_seconds():.0f}s; the lease ends in "
            f"{max(0.0, info.remaining_seconds()):.0f}s if that process is gone",
            hint=f"to take it over now: driftless state unlock {stack} --force   (recorded)",
        )


class StateConflict(StateError):
    """A write was refused: the stored serial or lineage moved on."""


class StalePlanError(StateError):
    """A saved plan no longer matches the state or the configuration."""


def settings_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """A ``driftless.yaml`` settings value that must be a mapping (absent: empty);
    anything else is a ``ConfigError`` naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    return value
