"""Adoption: taking over objects that exist but that state does not record.

The planner marks such a resource ``unmanaged`` and ``refused``; this module
turns those refusals into adoptions when the operator asks (``--adopt``) and
says how to bring one back by hand (``driftless import``). Pure: no I/O.

The choice for an object that differs from the configuration: ``--adopt``
takes it over and then updates (or replaces) it, the change the plan shows
under the diff; one that matches is recorded in state as it is (a READ, no
side effect). Adopting is a plan-wide decision the operator makes after
seeing the list, never a default: the object may belong to someone else.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from driftless.model import Action, Change, Plan, ResourceId

__all__ = ["adopt_unmanaged", "import_command", "import_id_of"]

# the attributes a kind's import id is made of, in order of preference
_IMPORT_KEYS = ("path", "id", "bucket", "name", "arn")


def adopt_unmanaged(plan: Plan) -> Plan:
    """``plan`` with every unmanaged object adopted: matching ones are read into
    state, differing ones taken over and changed; triggers fire again for the
    resources an adoption now changes."""
    changes: dict[ResourceId, Change] = {}
    for change in plan.changes:
        adopted = _adopted(change) if change.unmanaged and change.refused else change
        changes[change.id] = _retriggered(adopted, changes)
    return replace(plan, changes=tuple(changes.values()), adopt=True)


def _adopted(change: Change) -> Change:
    """One unmanaged change as an adoption (READ when nothing differs)."""
    if change.action is Action.NOOP:
        return replace(change, action=Action.READ, refused=False, adopt=True,
                       reason="exists and matches; recorded in state, nothing changes")
    why = f", then {change.reason}" if change.reason else ""
    return replace(change, refused=False, adopt=True, reason=f"exists, not managed: adopt{why}")


def _retriggered(change: Change, earlier: Mapping[ResourceId, Change]) -> Change:
    """A resource left alone whose ``triggered_by`` target an adoption now changes
    restarts or re-runs like any triggered resource (an adoption READ changes nothing)."""
    res = change.desired
    if res is None or change.triggered_by or change.action not in (Action.NOOP, Action.READ):
        return change
    fired = tuple(t for t in res.triggered_by if t in earlier and earlier[t].alters)
    if not fired:
        return change
    names = ", ".join(str(t) for t in fired)
    return replace(change, action=Action.UPDATE, triggered_by=fired,
                   reason=f"triggered: {names} will change")


def import_id_of(rid: ResourceId, attributes: Mapping[str, Any]) -> str:
    """The id ``driftless import`` most likely wants for the object: its path,
    AWS id, bucket or name as read; else the resource name (a service's)."""
    for key in _IMPORT_KEYS:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return rid.name


def import_command(rid: ResourceId, attributes: Mapping[str, Any]) -> str:
    """The command that adopts one object by hand, quoted for a shell."""
    return f"driftless import {shlex.quote(str(rid))} {shlex.quote(import_id_of(rid, attributes))}"
