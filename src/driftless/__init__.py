"""driftless: a GitOps engine that makes reality match Git.

The public API is what ``__all__`` lists; everything else is internal. The
names are imported on first use (PEP 562), so that ``driftless --version``
and the command line import only what a command needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftless.errors import (
        ConfigError,
        DriftlessError,
        LockHeld,
        Problem,
        ProviderError,
        RenderError,
        SourceError,
        StalePlanError,
        StateConflict,
        StateError,
        WaitError,
    )
    from driftless.model import (
        Action,
        ApplyResult,
        Change,
        DesiredStack,
        FieldDiff,
        Health,
        HealthCode,
        LiveResource,
        LockInfo,
        Outcome,
        Plan,
        Resource,
        ResourceId,
        ResourceState,
        Sensitive,
        StateSnapshot,
    )

__version__ = "0.1.0"


__all__ = [
    "Action",
    "ApplyResult",
    "Change",
    "ConfigError",
    "DesiredStack",
    "DriftlessError",
    "FieldDiff",
    "Health",
    "HealthCode",
    "LiveResource",
    "LockHeld",
    "LockInfo",
    "Outcome",
    "Plan",
    "Problem",
    "ProviderError",
    "RenderError",
    "Resource",
    "ResourceId",
    "ResourceState",
    "Sensitive",
    "SourceError",
    "StalePlanError",
    "StateConflict",
    "StateError",
    "StateSnapshot",
    "WaitError",
    "__version__",
]

_ERRORS = frozenset({
    "ConfigError", "DriftlessError", "LockHeld", "Problem", "ProviderError",
    "RenderError", "SourceError", "StalePlanError", "StateConflict", "StateError",
    "WaitError",
})
"""The public names that live in ``driftless.errors`` (the rest: ``driftless.model``)."""


def __getattr__(name: str) -> Any:
    """A public name, imported from ``driftless.errors`` or ``driftless.model`` on first use."""
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module("driftless.errors" if name in _ERRORS else "driftless.model")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
