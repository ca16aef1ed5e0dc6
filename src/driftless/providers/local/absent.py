"""Which of many local paths a plan can know are missing from one look at their directories.

A first apply of 10,000 files under a directory that does not exist yet
``lstat``-ed each of them at plan time to learn it is not there: ~2 us of
path lookup apiece, ~25 ms in all. ``absent`` looks at each distinct parent
directory once instead. When the parent is missing, or is (or is under)
something that is neither a directory nor a link, no path in it can exist,
which is exactly what the kind's own ``lstat`` would have found
(``lstat_or_none``: nothing there). Any other answer about the parent (a
directory, a link, or it cannot be looked at) decides nothing, and its paths
are read as always. The look and the reads it stands in for are one plan's,
a moment apart: no answer is kept. Only kinds whose ``read`` finds nothing
exactly when the lstat of ``path`` does take part (``NOTHING_WHEN_MISSING``).
I/O: lstat of directories.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from typing import Any

from driftless.model import Resource, ResourceId
from driftless.providers.local._atomic import parent_of

__all__ = ["absent"]


def absent(resources: Iterable[Resource], reads: Callable[[ResourceId], Any],
           nothing_when_missing: frozenset[Any]) -> set[ResourceId]:
    """The ids of ``resources`` whose ``path`` is under a missing directory, among
    those whose kind's read (``reads(id)``) is in ``nothing_when_missing``."""
    by_parent: dict[str, list[ResourceId]] = {}
    counted: dict[str, bool] = {}  # kind -> whether its read takes part
    for res in resources:
        kind = res.id.kind
        takes_part = counted.get(kind)
        if takes_part is None:
            takes_part = counted[kind] = reads(res.id) in nothing_when_missing
        path = res.properties.get("path")
        if takes_part and isinstance(path, str):
            parent = parent_of(path)
            if parent and parent != path:
                by_parent.setdefault(parent, []).append(res.id)
    missing: set[ResourceId] = set()
    for parent, ids in by_parent.items():
        if _missing(parent):
            missing.update(ids)
    return missing


def _missing(directory: str) -> bool:
    """Whether nothing can be inside ``directory``: it, or a directory above it, is
    not there, or something other than a directory or a link stands there."""
    try:
        st = os.lstat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False  # cannot tell: each path is read, and reports what it finds
    # a directory, or a link that may lead to one: its paths are read
    return not (stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode))
