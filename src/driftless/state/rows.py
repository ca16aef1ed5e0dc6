"""What a row-per-resource backend (SQLite, PostgreSQL) remembers between writes.

A write compares the new snapshot with the rows it last read or wrote, so
it touches only the rows that changed. Pure data.
"""

from __future__ import annotations

from driftless.model import ResourceState
from driftless.records import record

__all__ = ["Fresh", "KnownRows", "Rows"]

# address -> (the ResourceState it came from, if known, and the row as stored: the
# packed bytes (SQLite), or its JSON text (PostgreSQL; SQLite rows an older version
# wrote)). The same stored value is the same row; a row is compared and keyed by it
# (``plan.memo.resource_key``), so its JSON text need not be held (~5 MB for 10,000).
Rows = dict[str, tuple[ResourceState | None, str | bytes]]
# a row the journal encoded as an outcome: (state, address, JSON text, packed bytes)
Fresh = tuple[ResourceState, str, str, bytes]


@record
class KnownRows:
    """The rows of one stack as of (lineage, serial), kept to diff writes."""

    lineage: str
    serial: int
    rows: Rows
