"""Dependency graphs over resource ids: order, cycles, dependents. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

from driftless.model.ids import ResourceId

__all__ = ["Graph", "find_cycle"]


class Graph:
    """Edges ``node -> dependencies`` restricted to known nodes."""

    def __init__(self, deps: Mapping[ResourceId, Iterable[ResourceId]]) -> None:
        self.deps: dict[ResourceId, tuple[ResourceId, ...]] = {
            n: tuple(d for d in ds if d in deps and d != n) for n, ds in deps.items()
        }

    def order(self) -> list[ResourceId]:
        """Dependencies first; ties in address order so plans are stable.

        Raises ``CycleError``; use ``find_cycle`` to describe it.
        """
        sorter: TopologicalSorter[ResourceId] = TopologicalSorter()
        for node in sorted(self.deps):
            sorter.add(node, *self.deps[node])
        sorter.prepare()
        out: list[ResourceId] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            out.extend(ready)
            sorter.done(*ready)
        return out

    def dependents(self) -> dict[ResourceId, list[ResourceId]]:
        """Reverse edges: who depends on each node."""
        rev: dict[ResourceId, list[ResourceId]] = {n: [] for n in self.deps}
        for node, ds in self.deps.items():
            for d in ds:
                rev[d].append(node)
        return rev


def find_cycle(deps: Mapping[ResourceId, Iterable[ResourceId]]) -> list[ResourceId] | None:
    """One dependency cycle as a list of ids (first repeated at the end), or None."""
    try:
        Graph(deps).order()
    except CycleError as exc:
        cycle = list(exc.args[1])
        return cycle
    return None
