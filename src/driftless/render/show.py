"""What ``driftless render`` prints: a rendered stack, secrets masked. Pure.

Values not known until apply show their expression, so users can see what
they will become: ``(known after apply: ${db.host})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftless.model import Deferred, DesiredStack, mask

__all__ = ["stack_json"]


def _shown(value: Any) -> Any:
    if isinstance(value, Deferred):
        return f"(known after apply: {value.text})"
    if isinstance(value, Mapping):
        return {str(k): _shown(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_shown(v) for v in value]
    return value


def stack_json(desired: DesiredStack) -> dict[str, Any]:
    """A JSON-safe, secret-free view of ``desired`` (stable key order)."""
    return {
        "stack": desired.name,
        "digest": desired.digest,
        "depends_on": list(desired.depends_on),
        "settings": mask(_shown(dict(desired.settings))),
        "resources": [
            {
                "address": str(r.id),
                "properties": mask(_shown(dict(r.properties))),
                "depends_on": [str(d) for d in r.depends_on],
                "triggered_by": [str(t) for t in r.triggered_by],
                "protect": r.protect,
                "source": str(r.source) if r.source else None,
            }
            for r in desired.resources
        ],
        "outputs": mask(_shown(dict(desired.outputs))),
    }
