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

from driftless.model import Deferred, Resource, ResourceId, Sensitive, Unknown

__all__ = ["canonical", "stack_digest"]

# resources written per hashed piece: a chunk's text, its bytes and their
# check stay in the CPU's cache for 1 KB files (10,000: 27 ms, 512 a chunk: 39)
_CHUNK = 32
# the bytes ``json.dumps`` escapes in a string (ensure_ascii=False): controls,
# '"' and '\\', all single UTF-8 bytes; every other byte (and every byte of a
# multi-byte character) maps to 1
_ESCAPED = bytes(0 if b < 0x20 or b in b'"\\' else 1 for b in range(256))
_LITERALS = {True: "true", False: "false"}


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

    Hashed piece by piece, a chunk of resources at a time, to the very bytes one
    ``json.dumps`` of the whole document gives: a 10,000-file stack never
    holds a second, canonical copy of itself (~30 MB) just to be digested.
    """
    h = hashlib.sha256()

    def put(text: str) -> None:
        h.update(text.encode())

    put('{"depends_on":' + _json(list(depends_on)))
    put(',"outputs":' + _json(canonical(outputs, bindings)))
    put(',"resources":[')
    for start in range(0, len(resources), _CHUNK):
        put(("," if start else "") + _chunk(resources[start:start + _CHUNK], bindings))
    put('],"settings":' + _json(canonical(settings, bindings)))
    put(',"stack":' + _json(name) + "}")
    return "sha256:" + h.hexdigest()


def _chunk(resources: Sequence[Resource], bindings: Mapping[int, str]) -> str:
    """The JSON of ``resources``, comma-separated.

    ``json.dumps`` per resource costs more than the hashing itself, so each
    resource is written by ``_quick`` with its strings quoted as they are,
    and the chunk is kept only when none of them holds a character JSON
    escapes (checked once, over all of them); otherwise it is written again
    by ``json.dumps``, as always.
    """
    raw: list[str] = []
    texts = [_quick(r, bindings, raw) or _json(_resource(r, bindings)) for r in resources]
    if raw and not _unescaped("".join(raw)):
        texts = [_json(_resource(r, bindings)) for r in resources]
    return ",".join(texts)


def _unescaped(text: str) -> bool:
    """Whether ``json.dumps`` writes ``text`` as it is, between quotes."""
    return b"\0" not in text.encode("utf-8", "surrogatepass").translate(_ESCAPED)


def _quick(r: Resource, bindings: Mapping[int, str], raw: list[str]) -> str | None:
    """The JSON of ``_resource(r)``, its plain strings quoted as they are (and
    added to ``raw`` for ``_chunk`` to check); None when its properties are not
    a dict of string keys (``canonical`` would turn keys into strings)."""
    props = r.properties
    if props.__class__ is not dict or r.protect.__class__ is not bool:
        return None
    try:
        keys = sorted(props)
    except TypeError:  # keys of mixed types
        return None
    fields = []
    for k in keys:
        if k.__class__ is not str:
            return None
        v = props[k]
        raw.append(k)
        if v.__class__ is str:
            raw.append(v)
            fields.append(f'"{k}":"{v}"')
        elif v.__class__ is bool:
            fields.append(f'"{k}":{_LITERALS[v]}')
        else:
            fields.append(f'"{k}":{_value(v, bindings)}')
    address = str(r.id)
    raw.append(address)
    deps = _names(r.depends_on, raw) if r.depends_on else "[]"
    triggered = _names(r.triggered_by, raw) if r.triggered_by else "[]"
    return (f'{{"address":"{address}","depends_on":{deps},'
            f'"properties":{{{",".join(fields)}}},"protect":{_LITERALS[r.protect]},'
            f'"triggered_by":{triggered}}}')


def _value(v: Any, bindings: Mapping[int, str]) -> str:
    """The JSON of a property value other than a string (as nested in the document)."""
    if v is True or v is False:
        return _LITERALS[v]
    if v is None:
        return "null"
    return _json(canonical(v, bindings))


def _names(ids: Sequence[ResourceId], raw: list[str]) -> str:
    """A JSON list of the addresses of ``ids`` (added to ``raw``)."""
    names = [str(i) for i in ids]
    raw += names
    return "[" + ",".join(f'"{n}"' for n in names) + "]"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
