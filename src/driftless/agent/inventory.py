"""What the UI and API show of one reconcile: resources with health, masked changes.

Pure functions over a finished ``ReconcileContext``; no I/O. ``record``
stores their output: the resource list per stack (replaced on every run
that checked health) and the plan's changes inside each history entry.

Nothing secret leaves here: changes go through ``Change.to_json`` (which
shows a sensitive field as ``(sensitive)`` and masks nested secrets), and
long values are cut so a history entry stays small whatever a file holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftless.agent.context import ReconcileContext
from driftless.model import Action, Change, Plan

__all__ = ["CHANGES_KEEP", "VALUE_KEEP", "change_docs", "resource_docs"]

CHANGES_KEEP = 100
VALUE_KEEP = 2000


def change_docs(plan: Plan | None) -> tuple[dict[str, Any], ...]:
    """The plan's changes (no no-ops), masked and cut to a bounded size."""
    if plan is None:
        return ()
    pending = [c for c in plan.changes if c.is_change or c.refused]
    docs = tuple(_change_doc(c) for c in pending[:CHANGES_KEEP])
    if len(pending) > CHANGES_KEEP:
        docs += ({"address": f"... and {len(pending) - CHANGES_KEEP} more", "action": "",
                  "reason": "", "diffs": []},)
    return docs


def _change_doc(change: Change) -> dict[str, Any]:
    doc = change.to_json()
    doc["diffs"] = [{**d, "before": _cut(d["before"]), "after": _cut(d["after"])}
                    for d in doc["diffs"]]
    return doc


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= VALUE_KEEP else (
            value[:VALUE_KEEP] + f"... ({len(value) - VALUE_KEEP} more characters)")
    if isinstance(value, Mapping | list | tuple):
        text = repr(value)
        return value if len(text) <= VALUE_KEEP else _cut(text)
    return value


def resource_docs(ctx: ReconcileContext) -> list[dict[str, Any]]:
    """Every managed resource with its health, dependencies, last action and file:line."""
    planned = {c.id: c for c in ctx.plan.changes} if ctx.plan is not None else {}
    declared = {r.id: r for r in ctx.desired.resources} if ctx.desired is not None else {}
    docs = []
    for rid, health in sorted(ctx.healths.items(), key=lambda kv: str(kv[0])):
        change, res = planned.get(rid), declared.get(rid)
        deps = change.depends_on if change is not None else (res.depends_on if res else ())
        docs.append({
            "address": str(rid), "provider": rid.provider, "kind": rid.kind,
            "health": health.code.label, "message": health.message,
            "depends_on": sorted(str(d) for d in deps),
            "action": change.action.value if change is not None else Action.NOOP.value,
            "source": str(res.source) if res is not None and res.source else "",
        })
    return docs
