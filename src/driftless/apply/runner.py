"""Carry out one change through its provider, journaled.

The journal intent is durable before the provider is called and the outcome
is recorded right after, so a crash between the two is found by the next run
(see ``apply.recover``). Failures become ``ApplyResult`` data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from driftless.errors import DriftlessError
from driftless.model import (
    Action,
    ApplyResult,
    Change,
    LiveResource,
    Outcome,
    Resource,
    ResourceId,
    ResourceState,
    StateSnapshot,
    contains_unknown,
    deferred_refs,
    resolve,
)
from driftless.providers import ProviderSet, comparable
from driftless.state import Journal

__all__ = ["ChangeRunner"]


class ChangeRunner:
    """Runs changes of one apply; thread-safe; collects the new resource states."""

    def __init__(self, *, providers: ProviderSet, journal: Journal, snapshot: StateSnapshot):
        self.providers = providers
        self.journal = journal
        self.snapshot = snapshot
        self.outcomes: dict[ResourceId, ResourceState | None] = {}
        self._lock = threading.Lock()

    def attrs(self, rid: ResourceId) -> Mapping[str, Any] | None:
        """Attributes known now: applied in this run, else recorded in state."""
        with self._lock:
            if rid in self.outcomes:
                st = self.outcomes[rid]
                return st.attributes if st is not None else None
        prior = self.snapshot.get(rid)
        return prior.attributes if prior is not None else None

    def __call__(self, change: Change) -> ApplyResult:
        try:
            final = self._resolved(change)
            if final.action is Action.NOOP:
                return ApplyResult(change.id, Action.NOOP, Outcome.APPLIED, "no change needed")
            self._run(final)
        except DriftlessError as exc:
            return ApplyResult(change.id, change.action, Outcome.FAILED, str(exc))
        except Exception as exc:  # a provider bug must not kill the whole apply
            msg = f"unexpected {type(exc).__name__}: {exc}"
            return ApplyResult(change.id, change.action, Outcome.FAILED, msg)
        return ApplyResult(change.id, final.action, Outcome.APPLIED, final.reason)

    def _resolved(self, change: Change) -> Change:
        """Evaluate deferred properties now that dependencies are applied."""
        res = change.desired
        if res is None or not deferred_refs(res.properties):
            return change
        props = resolve(res.properties, self.attrs)
        if contains_unknown(props):
            raise DriftlessError(f"{res.id}: a referenced value is still unknown after its "
                                 "dependencies were applied")
        concrete = replace(res, properties=props)
        if change.action is Action.CREATE or change.prior is None:
            return replace(change, desired=concrete)
        fresh = self.providers.get(res.id.provider).diff(concrete, change.prior)
        if fresh.action is Action.NOOP and change.triggered_by:
            return replace(change, desired=concrete, diffs=())
        return replace(fresh, triggered_by=change.triggered_by, depends_on=change.depends_on)

    def _run(self, change: Change) -> None:
        provider = self.providers.get(change.id.provider)
        inputs = comparable(dict(change.desired.properties)) if change.desired else {}
        seq = self.journal.begin(str(change.id), change.action.value,
                                 {"inputs": inputs, "prior": _prior_json(change.prior)})
        try:
            live = provider.apply(change)
        except BaseException:
            self.journal.finish(seq, ok=False, live=None)
            raise
        state = _state_of(change.desired, live, inputs, change.depends_on)
        self.journal.finish(seq, ok=True, live=state.to_json() if state else None)
        with self._lock:
            self.outcomes[change.id] = state


def _prior_json(prior: LiveResource | None) -> dict[str, Any] | None:
    if prior is None:
        return None
    return {"attributes": dict(prior.attributes), "private": dict(prior.private)}


def _state_of(
    desired: Resource | None, live: LiveResource | None, inputs: Mapping[str, Any],
    deps: tuple[ResourceId, ...],
) -> ResourceState | None:
    if desired is None or live is None:
        return None
    return ResourceState(desired.id, live.attributes, live.private, inputs, desired.protect, deps)
