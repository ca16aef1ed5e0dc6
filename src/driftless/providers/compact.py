"""Compact inputs: what state and the journal keep of a resource's properties.

State only needs the inputs to tell "same as last applied" and to find the
object again (identity fields such as ``path`` are short). Keeping whole file
contents made state 3-5x the size of the files it manages, so long strings are
kept as a digest marker instead. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

#: strings longer than this are stored as ``{"$sha256": hex}``
COMPACT_THRESHOLD = 256
MARKER = "$sha256"


def compact_inputs(value: Any) -> Any:
    """``value`` (already ``comparable``) with every long string, at any depth,
    replaced by a digest marker, so state grows with the number of resources
    rather than with the size of what they manage."""
    if isinstance(value, str):
        if len(value) <= COMPACT_THRESHOLD:
            return value
        return {MARKER: hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()}
    if isinstance(value, Mapping):
        return {k: compact_inputs(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compact_inputs(v) for v in value]
    return value


def same_inputs(wanted: Any, stored: Any) -> bool:
    """Whether comparable ``wanted`` properties equal ``stored`` inputs, in
    either form: state written before compaction holds the full values."""
    return bool(wanted == stored or compact_inputs(wanted) == stored)


def is_marker(value: Any) -> bool:
    """Whether ``value`` is a digest marker standing for a long string."""
    return isinstance(value, Mapping) and len(value) == 1 and MARKER in value


def readable_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Stored inputs fit to read the object with: markers dropped, so a
    provider sees a missing property rather than a value of the wrong type
    (reads need identity fields such as ``path``, which are never compacted)."""
    return {k: readable_inputs(v) if isinstance(v, Mapping) else v
            for k, v in inputs.items() if not is_marker(v)}
