"""What a row-per-resource backend (SQLite, PostgreSQL) remembers between writes.

A write compares the new snapshot with the rows it last read or wrote, so
it touches only the rows that changed. Pure data.
"""

from __future__ import annotations

from driftless.model import ResourceState
from driftless.records import record

__all__ = ["Fresh", "KnownRows", "Rows"]

# address -> (the ResourceState it came from, if known, and its stored JSON text)
Rows = dict[str, tuple[ResourceState | None, str]]
# a row the journal encoded as an outcome: (state, address, JSON text, packed bytes)
Fresh = tuple[ResourceState, str, str, bytes]


@record
class KnownRows:
    """The rows of one stack as of (lineage, serial), kept to diff writes."""

    lineage: str
    serial: int
    rows: Rows
