"""Why a stack was redeployed, in one line a human reads in ``status``.

No I/O beyond asking the source cache which paths changed between two
revisions. Examples: ``stacks/web/page.html.j2 changed in a1b2c3d``,
``drift: local:file/motd update (content changed outside driftless)``.
"""

from __future__ import annotations

from driftless.agent.context import ReconcileContext
from driftless.model import Plan

__all__ = ["drift_lines", "redeploy_reason"]

SHOWN = 3


def drift_lines(plan: Plan) -> list[str]:
    """``address action (reason)`` for every pending change of an unchanged revision."""
    return [f"{c.id} {c.action.value}" + (f" ({c.reason})" if c.reason else "")
            for c in plan.pending()]


def _few(items: list[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" (+{more} more)" if more > 0 else "")


def redeploy_reason(ctx: ReconcileContext) -> str:
    """The reason for this run's changes, or "" when there are none."""
    assert ctx.plan is not None and ctx.source is not None
    pending = ctx.plan.pending()
    if not pending:
        return ""
    if ctx.drift:
        return "drift: " + _few(ctx.drift)
    short = ctx.source.revision[:7]
    old = ctx.status.revision
    if not old:
        return f"first deploy of {short}: " + _few([f"{c.id} {c.action.value}" for c in pending])
    paths = ctx.rt.sources.changed_paths(ctx.source_name, old, ctx.source.revision)
    why = [f"{c.id}: {c.reason}" for c in pending if c.reason]
    head = f"{_few(paths)} changed in {short}" if paths else f"{old[:7]} → {short}"
    if ctx.trigger == "rollback":
        head = f"rollback to {short} asked by {ctx.actor} ({head})"
    return head + (f"; {_few(why)}" if why else "")
