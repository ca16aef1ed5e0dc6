"""driftless: a GitOps engine that makes reality match Git.

The public API is what ``__all__`` lists; everything else is internal.
"""

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
