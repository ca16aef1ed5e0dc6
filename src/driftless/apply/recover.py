"""Repair state after a crash, from the journal.

Finished entries are folded into the snapshot as they are. An intent with no
outcome is a side effect that may or may not have happened: the provider is
asked to read the object; if it exists it is adopted into state (so nothing
created is ever forgotten), otherwise the next plan simply creates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftless.errors import DriftlessError
from driftless.model import LiveResource, Resource, ResourceId, ResourceState, StateSnapshot
from driftless.providers import ProviderSet
from driftless.state import JournalEntry

__all__ = ["fold_journal"]


def fold_journal(
    snapshot: StateSnapshot, entries: list[JournalEntry], providers: ProviderSet,
) -> tuple[dict[ResourceId, ResourceState], list[str]]:
    """The repaired resource map and one note per repair."""
    resources = dict(snapshot.resources)
    notes: list[str] = []
    for entry in entries:
        rid = ResourceId.parse(entry.address)
        if entry.finished and entry.ok:
            _fold_finished(resources, rid, entry.live)
        elif not entry.finished:
            notes.append(_probe(resources, rid, entry, providers))
    return resources, notes


def _fold_finished(
    resources: dict[ResourceId, ResourceState], rid: ResourceId, live: Mapping[str, Any] | None,
) -> None:
    if live is None:
        resources.pop(rid, None)
    else:
        resources[rid] = ResourceState.from_json(live)


def _probe(
    resources: dict[ResourceId, ResourceState], rid: ResourceId, entry: JournalEntry,
    providers: ProviderSet,
) -> str:
    prior_doc = entry.intent.get("prior")
    prior = (LiveResource(rid, prior_doc.get("attributes", {}), prior_doc.get("private", {}))
             if prior_doc else None)
    inputs = dict(entry.intent.get("inputs", {}))
    try:
        live = providers.get(rid.provider).read(Resource(rid, inputs), prior)
    except DriftlessError as exc:
        return f"{rid}: an interrupted {entry.action} could not be checked ({exc}); re-planned"
    if live is None:
        resources.pop(rid, None)
        return f"{rid}: an interrupted {entry.action} left nothing behind; re-planned"
    old = resources.get(rid)
    protect = old.protect if old else False
    deps = old.depends_on if old else ()
    resources[rid] = ResourceState(rid, live.attributes, live.private, inputs, protect, deps)
    return f"{rid}: adopted after an interrupted {entry.action}"
