"""What a row-per-resource backend (SQLite, PostgreSQL) remembers between writes.

A write compares the new snapshot with the rows it last read or wrote, so
it touches only the rows that changed. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping

from driftless.model import ResourceId, ResourceState
from driftless.records import record

__all__ = ["Fresh", "KnownRows", "Rows", "shared_states"]

# address -> (the ResourceState it came from, if known, and the row as stored: the
# packed bytes (SQLite), or its JSON text (PostgreSQL; SQLite rows an older version
# wrote)). The same stored value is the same row; a row is compared and keyed by it
# (``plan.memo.resource_key``), so its JSON text need not be held (~5 MB for 10,000).
Rows = dict[str, tuple[ResourceState | None, str | bytes]]
# a row the journal encoded as an outcome: (state, address, packed bytes); not its JSON
# text, which a first apply of 10,000 files would hold until its commit (~7 MB)
Fresh = tuple[ResourceState, str, bytes]


@record
class KnownRows:
    """The rows of one stack as of (lineage, serial), kept to diff writes.

    ``states``: the snapshot's resources as this client last read or wrote them,
    handed out again by the next read of the same serial instead of a new dict of
    the same states (an apply reads its stack three times). Snapshots are values:
    no one changes the mapping of one, so it can be shared.
    """

    lineage: str
    serial: int
    rows: Rows
    states: dict[ResourceId, ResourceState] | None = None


def shared_states(resources: Mapping[ResourceId, ResourceState],
                  ) -> dict[ResourceId, ResourceState] | None:
    """A written snapshot's resources as ``KnownRows.states``: its own dict, or None
    for another mapping (the next read then builds a dict of the known rows)."""
    return resources if type(resources) is dict else None
