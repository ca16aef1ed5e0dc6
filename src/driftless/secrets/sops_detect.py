"""Whether a parsed document is a SOPS file: a check on its keys, importing nothing.

Kept apart from ``sops_read`` so that render can ask it of every values file
without loading the codec (cryptography, age, ruamel: tens of milliseconds
and several MB); the codec is imported only when a file is SOPS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["is_sops_document"]


def is_sops_document(doc: Any) -> bool:
    """True for a parsed document carrying sops metadata (``sops:`` with a MAC, or the
    flattened ``sops_mac`` of dotenv)."""
    if not isinstance(doc, Mapping):
        return False
    meta = doc.get("sops")
    if isinstance(meta, Mapping):
        return "mac" in meta and "lastmodified" in meta
    return "sops_mac" in doc and "sops_lastmodified" in doc
