"""The render digest: sha256 over a canonical JSON of a rendered stack.

Identical inputs give byte-identical JSON (sorted keys, fixed separators),
so saved plans and the agent can tell "nothing changed" by comparing one
string. Secrets enter only as keyed digests; a ``Deferred`` as its source
text plus the values it was bound to. Source locations are left out on
purpose: moving a resource within a file changes nothing. Pure.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from driftless.model import Deferred, Resource, Sensitive, Unknown

__all__ = ["canonical", "stack_digest"]


def canonical(value: Any, bindings: Mapping[int, str]) -> Any:
    """A JSON-ready form of ``value``; secrets as digests."""
    if isinstance(value, Sensitive):
        return {"$sensitive": value.digest()}
    if isinstance(value, Deferred):
        return {"$deferred": value.text, "$bound": bindings.get(id(value), "")}
    if isinstance(value, Unknown):
        return {"$unknown": True}
    if isinstance(value, Mapping):
        return {str(k): canonical(v, bindings) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v, bindings) for v in value]
    return value


def _resource(r: Resource, bindings: Mapping[int, str]) -> dict[str, Any]:
    return {
        "address": str(r.id),
        "properties": canonical(r.properties, bindings),
        "depends_on": [str(d) for d in r.depends_on],
        "triggered_by": [str(t) for t in r.triggered_by],
        "protect": r.protect,
    }


def stack_digest(name: str, resources: Sequence[Resource], outputs: Mapping[str, Any],
                 depends_on: Sequence[str], settings: Mapping[str, Any],
                 bindings: Mapping[int, str]) -> str:
    """``sha256:<hex>`` of the canonical render: the JSON of
    ``{"depends_on", "outputs", "resources", "settings", "stack"}`` (sorted keys).

    Hashed piece by piece, one resource at a time, to the very bytes one
    ``json.dumps`` of the whole document gives: a 10,000-file stack never
    holds a second, canonical copy of itself (~30 MB) just to be digested.
    """
    h = hashlib.sha256()

    def put(text: str) -> None:
        h.update(text.encode())

    put('{"depends_on":' + _json(list(depends_on)))
    put(',"outputs":' + _json(canonical(outputs, bindings)))
    put(',"resources":[')
    for i, r in enumerate(resources):
        put(("," if i else "") + _json(_resource(r, bindings)))
    put('],"settings":' + _json(canonical(settings, bindings)))
    put(',"stack":' + _json(name) + "}")
    return "sha256:" + h.hexdigest()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
