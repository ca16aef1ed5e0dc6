"""Repair state after a crash, from the journal.

Finished entries are folded into the snapshot as they are. An intent with no
outcome is a side effect that may or may not have happened: the provider is
asked to read the object; if it exists it is adopted into state (so nothing
created is ever forgotten), otherwise the next plan simply creates it.

The journal's inputs hold secrets only as digests, so the probe cannot know
the secret text an adopted object's attributes may hold: the caller passes
the configuration's resources, whose secrets ``secure_live`` digests, and a
string whose digest is among the inputs' digests is digested too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from driftless.errors import DriftlessError
from driftless.model import (
    LiveResource,
    Resource,
    ResourceId,
    ResourceState,
    StateSnapshot,
    sensitive_digest,
)
from driftless.model.values import is_digest
from driftless.providers import ProviderSet
from driftless.providers.base import IDENTITY_ATTRIBUTES, secure_live
from driftless.state import JournalEntry

__all__ = ["fold_journal"]


def fold_journal(
    snapshot: StateSnapshot, entries: list[JournalEntry], providers: ProviderSet,
    desired: Mapping[ResourceId, Resource] | None = None,
) -> tuple[dict[ResourceId, ResourceState], list[str]]:
    """The repaired resource map and one note per repair.

    ``desired`` (the configuration's resources, when known) lends its
    secrets to digest what an adopted object's attributes hold.
    """
    resources = dict(snapshot.resources)
    notes: list[str] = []
    for entry in entries:
        rid = ResourceId.parse(entry.address)
        if entry.finished and entry.ok:
            _fold_finished(resources, rid, entry.live)
        elif not entry.finished:
            notes.append(_probe(resources, rid, entry, providers, (desired or {}).get(rid)))
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
    providers: ProviderSet, wanted: Resource | None,
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
    live = _secured(providers, wanted, live, inputs)
    old = resources.get(rid)
    protect = old.protect if old else False
    deps = old.depends_on if old else ()
    resources[rid] = ResourceState(rid, live.attributes, live.private, inputs, protect, deps)
    return f"{rid}: adopted after an interrupted {entry.action}"


def _secured(providers: ProviderSet, wanted: Resource | None, live: LiveResource,
             inputs: Mapping[str, Any]) -> LiveResource:
    """The adopted view with the configuration's secrets and the inputs' digested
    values both digested (the second covers a resource no longer configured)."""
    spec = providers.spec(live.id.provider, live.id.kind)
    secured = secure_live(spec, wanted, live) or live
    digests = _digests(inputs)
    if not digests:
        return secured
    keep = spec.identity if spec else IDENTITY_ATTRIBUTES  # delete finds the object by these
    attrs = {k: v if k in keep else _by_digest(v, digests) for k, v in secured.attributes.items()}
    return replace(secured, attributes=attrs)


def _digests(value: Any) -> set[str]:
    if is_digest(value):
        return {str(value)}
    if isinstance(value, Mapping):
        return set().union(*(_digests(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(_digests(v) for v in value))
    return set()


def _by_digest(value: Any, digests: Collection[str]) -> Any:
    """Each string (or number) whose keyed digest is one of ``digests``, digested."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        if not is_digest(value) and sensitive_digest(value) in digests:
            return sensitive_digest(value)
        return value
    if isinstance(value, Mapping):
        return {k: _by_digest(v, digests) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_by_digest(v, digests) for v in value]
    return value
