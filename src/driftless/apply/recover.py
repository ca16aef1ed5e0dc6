"""Repair state after a crash, from the journal.

Finished entries are folded into the snapshot as they are. An intent with no
outcome is a side effect that may or may not have happened, so every repair
is a read, idempotent for every action:

- create, update, replace: read with the intent's inputs; what exists is
  adopted (nothing created is ever forgotten). When nothing is there and the
  action had a prior object (update, replace), the prior is read with the
  intent's ``prior_inputs``: if it is still there it stays in state, so the
  next apply replaces it rather than orphaning it.
- delete: read with ``prior_inputs`` (a delete has no new inputs): gone is
  dropped from state, still there stays (the next apply deletes it again).

Before the read, the provider's optional ``cleanup`` hook removes what the
killed writer left beside the object (the local kinds' temp files). A read
that fails raises a ``StateError`` naming the entry; nothing is written and
the journal keeps the entry, so the next run retries. Unfinished entries of
another lock holder that is still alive (after a forced unlock) are never
adopted: ``check_holders`` refuses first.

The journal's inputs hold secrets only as digests, so the probe cannot know
the secret text an adopted object's attributes may hold: the caller passes
the configuration's resources, whose secrets ``secure_live`` digests, and a
string whose digest is among the inputs' digests is digested too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any

from driftless.errors import DriftlessError, StateError
from driftless.model import (
    LiveResource,
    LockInfo,
    Resource,
    ResourceId,
    ResourceState,
    StateSnapshot,
    sensitive_digest,
)
from driftless.model.values import is_digest
from driftless.providers import ProviderSet
from driftless.providers.base import IDENTITY_ATTRIBUTES, secure_live
from driftless.providers.compact import readable_inputs
from driftless.state import JournalEntry
from driftless.state.lease import pid_gone

__all__ = ["check_holders", "fold_journal"]


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
    """Repair one unfinished entry by reading; a failed read keeps the journal."""
    prior_doc = entry.intent.get("prior")
    prior = (LiveResource(rid, prior_doc.get("attributes", {}), prior_doc.get("private", {}))
             if prior_doc else None)
    inputs = dict(entry.intent.get("inputs", {}))
    before = _prior_inputs(entry, resources.get(rid), prior)
    try:
        _cleanup(providers, rid, inputs, before)
        live = None if entry.action == "delete" else _read(providers, rid, inputs, prior)
        if live is None and before is not None and entry.action != "create":
            return _keep_prior(resources, rid, entry, providers, before, prior)
    except Exception as exc:
        raise _unreadable(rid, entry, exc) from None
    if live is None:
        resources.pop(rid, None)
        return f"{rid}: an interrupted {entry.action} left nothing behind; re-planned"
    live = _secured(providers, wanted, live, inputs)
    old = resources.get(rid)
    protect = old.protect if old else False
    deps = old.depends_on if old else ()
    resources[rid] = ResourceState(rid, live.attributes, live.private, inputs, protect, deps)
    return f"{rid}: adopted after an interrupted {entry.action}"


def _keep_prior(
    resources: dict[ResourceId, ResourceState], rid: ResourceId, entry: JournalEntry,
    providers: ProviderSet, before: Mapping[str, Any], prior: LiveResource | None,
) -> str:
    """Nothing new exists: the prior object, if still there, stays in state
    (the next apply deletes or replaces it again); if gone, state drops it."""
    old_live = _read(providers, rid, before, prior)
    if old_live is None:
        resources.pop(rid, None)
        return f"{rid}: an interrupted {entry.action} left nothing behind; re-planned"
    if rid not in resources:
        old_live = _secured(providers, None, old_live, before)
        resources[rid] = ResourceState(rid, old_live.attributes, old_live.private, before)
    return f"{rid}: still there after an interrupted {entry.action}; kept in state"


def _prior_inputs(entry: JournalEntry, old: ResourceState | None,
                  prior: LiveResource | None) -> dict[str, Any] | None:
    """How to find the prior object: the intent's record, else state's, else
    the prior view's attributes (older journals; identity fields such as
    ``path`` are attributes too)."""
    recorded = entry.intent.get("prior_inputs")
    if isinstance(recorded, Mapping):
        return dict(recorded)
    if old is not None:
        return dict(old.inputs)
    return dict(prior.attributes) if prior is not None else None


def _read(providers: ProviderSet, rid: ResourceId, props: Mapping[str, Any],
          prior: LiveResource | None) -> LiveResource | None:
    return providers.get(rid.provider).read(Resource(rid, readable_inputs(props)), prior)


def _cleanup(providers: ProviderSet, rid: ResourceId, *props: Mapping[str, Any] | None) -> None:
    """Run the provider's optional ``cleanup`` hook for the new and the prior object."""
    hook = getattr(providers.get(rid.provider), "cleanup", None)
    if hook is None:
        return
    for p in props:
        if p:
            hook(Resource(rid, readable_inputs(p)))


def _unreadable(rid: ResourceId, entry: JournalEntry, exc: Exception) -> StateError:
    """A failed repair, named by its journal entry; the entry stays for the next run."""
    why = str(exc) if isinstance(exc, DriftlessError) else f"unexpected {type(exc).__name__}: {exc}"
    return StateError(
        f"cannot recover journal entry {entry.seq} ({entry.action} of {rid}) left by an "
        f"interrupted run: {why}",
        hint="fix the cause and run again; the entry stays in the journal until it is repaired",
    )


def check_holders(entries: list[JournalEntry], current: LockInfo | None) -> None:
    """Refuse to adopt unfinished entries of another lock holder that still runs.

    A forced unlock can hand the stack over while the old holder is mid-apply:
    its in-flight intents are not a crash to repair. A holder on this host is
    alive while its pid is; elsewhere, while the lease it recorded lasts.
    """
    ours = current.id if current is not None else None
    for entry in entries:
        lock = entry.intent.get("lock")
        if entry.finished or not isinstance(lock, Mapping) or lock.get("id") == ours:
            continue
        if _holder_alive(lock):
            raise StateError(
                f"journal entry {entry.seq} ({entry.action} of {entry.address}) belongs to "
                f"lock {lock.get('id')} held by {lock.get('who')} (pid {lock.get('pid')}), "
                "which is still running; refusing to adopt its work",
                hint="wait for that run to end (or stop it), then run again",
            )


def _holder_alive(lock: Mapping[str, Any]) -> bool:
    """Whether the process that wrote an intent may still be acting on it."""
    who, pid = str(lock.get("who", "")), lock.get("pid")
    if who.rpartition("@")[2] == os.uname().nodename and isinstance(pid, int) and pid > 0:
        created = lock.get("created")
        return _pid_alive(pid, created if isinstance(created, int | float) else None)
    expires = lock.get("expires")
    return isinstance(expires, int | float) and expires > time.time()


def _pid_alive(pid: int, created: float | None) -> bool:
    """Whether ``pid`` still runs the holder, judged as the lock takeover judges one
    (``lease.pid_gone``); this very process is recovering, not acting."""
    return pid != os.getpid() and not pid_gone(pid, created)


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
