"""Walk a dependency graph of changes in parallel, bounded.

A node runs once every dependency it has *in this walk* has succeeded. When a
node fails, everything downstream of it is skipped with a message naming the
failure; independent branches keep going. Ready nodes are batched per pool
task so thousands of cheap changes do not pay thousands of hand-offs; the
ready cheap ones (``KindSpec.cheap``: local files) run as one batch in the
calling thread, and the pool starts only when some change is not cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from driftless.model import ApplyResult, Change, Outcome, ResourceId

if TYPE_CHECKING:  # the pool is imported when a change needs it (local files do not)
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["walk"]

Runner = Callable[[Sequence[Change]], list[ApplyResult]]
Sink = Callable[[ApplyResult], None]


class _Walk:
    """The scheduler's bookkeeping for one walk."""

    def __init__(self, changes: Sequence[Change],
                 deps: Mapping[ResourceId, Sequence[ResourceId]] | None):
        self.by_id = {c.id: c for c in changes}
        # a node without dependencies in this walk (most of a large one) shares one
        # empty set, and only a node something depends on gets a list of dependents
        by_id = self.by_id
        if deps is None:  # each change's own ``depends_on``
            self.waiting = {c.id: _within(c.depends_on, by_id) if c.depends_on else _NONE
                            for c in changes}
        else:
            self.waiting = {c.id: _within(deps.get(c.id), by_id) for c in changes}
        self.dependents: dict[ResourceId, list[ResourceId]] = {}
        for node, ds in self.waiting.items():
            for d in ds:
                self.dependents.setdefault(d, []).append(node)
        self.results: list[ApplyResult] = []

    def initially_ready(self) -> list[ResourceId]:
        return sorted(n for n, ds in self.waiting.items() if not ds)

    def finish(self, result: ApplyResult, sink: Sink | None) -> list[ResourceId]:
        """Record a result; return the nodes it made ready."""
        self._record(result, sink)
        if result.outcome is not Outcome.APPLIED:
            self._skip_downstream(result.id, sink)
            return []
        ready = []
        for node in self.dependents.get(result.id, ()):
            pending = self.waiting.get(node)
            if not isinstance(pending, set):  # done already (a dependent has its own set)
                continue
            pending.discard(result.id)
            if not pending:
                ready.append(node)
        return ready

    def _record(self, result: ApplyResult, sink: Sink | None) -> None:
        self.waiting.pop(result.id, None)
        self.results.append(result)
        if sink is not None:
            sink(result)

    def _skip_downstream(self, failed: ResourceId, sink: Sink | None) -> None:
        stack = list(self.dependents.get(failed, ()))
        while stack:
            node = stack.pop()
            if node not in self.waiting:
                continue
            change = self.by_id[node]
            self._record(ApplyResult(node, change.action, Outcome.SKIPPED,
                                     f"skipped: dependency {failed} did not apply"), sink)
            stack.extend(self.dependents.get(node, ()))


_NONE: frozenset[ResourceId] = frozenset()


def _within(deps: Sequence[ResourceId] | None,
            nodes: Mapping[ResourceId, Change]) -> set[ResourceId] | frozenset[ResourceId]:
    """The dependencies of a node that are in this walk: a set to discard them from as
    they finish, or the shared empty set when there are none."""
    if not deps:
        return _NONE
    inside = {d for d in deps if d in nodes}
    return inside or _NONE


def _batches(
    ready: list[ResourceId], w: _Walk, workers: int, cheap: Callable[[Change], bool],
) -> tuple[list[Change], list[list[Change]]]:
    """Cheap changes go together in one batch, run in the calling thread (a pool
    hand-off per tiny file write costs more than the write); the rest are spread."""
    light: list[Change] = []
    heavy: list[Change] = []
    for n in ready:
        change = w.by_id[n]
        (light if cheap(change) else heavy).append(change)
    size = max(1, min(64, len(heavy) // (workers * 4) or 1))
    return light, [heavy[i:i + size] for i in range(0, len(heavy), size)]


def walk(
    changes: Sequence[Change],
    deps: Mapping[ResourceId, Sequence[ResourceId]] | None,
    run: Runner,
    *,
    workers: int = 10,
    on_result: Sink | None = None,
    cheap: Callable[[Change], bool] = lambda _c: False,
) -> list[ApplyResult]:
    """Run every change after its dependencies (``deps``, or None: each change's own
    ``depends_on``); return all results.

    ``run`` takes a batch of ready, mutually independent changes and returns
    one result per change, so it can journal a batch in one durable write.
    Cheap batches run in this thread while the pool (started only when some
    change is not cheap) works on the others.
    """
    w = _Walk(changes, deps)
    pool: ThreadPoolExecutor | None = None
    running: set[Future[list[ApplyResult]]] = set()
    try:
        ready = w.initially_ready()
        while ready or running:
            light, heavy = _batches(ready, w, workers, cheap)
            for batch in heavy:
                pool = pool or _pool(workers)
                running.add(pool.submit(run, batch))
            newly: list[ResourceId] = []
            if light:
                for result in run(light):
                    newly.extend(w.finish(result, on_result))
                done = {fut for fut in running if fut.done()}
            else:
                done = _first_done(running)
            for fut in done:
                running.discard(fut)
                for result in fut.result():
                    newly.extend(w.finish(result, on_result))
            ready = sorted(newly)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return w.results


def _pool(workers: int) -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=max(1, workers))


def _first_done(running: set[Future[list[ApplyResult]]]) -> set[Future[list[ApplyResult]]]:
    from concurrent.futures import FIRST_COMPLETED, wait

    return wait(running, return_when=FIRST_COMPLETED).done
