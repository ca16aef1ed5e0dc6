"""The last reconcile step: write status, history and metrics.

I/O: the agent store (SQLite). Nothing secret is written: messages come
from errors and plans, which mask ``Sensitive`` values, and results carry
addresses and messages only.
"""

from __future__ import annotations

import time
from dataclasses import replace

from driftless.agent.context import ReconcileContext
from driftless.agent.inventory import change_docs, resource_docs
from driftless.agent.store import StackStatus
from driftless.errors import ConfigError, RenderError
from driftless.model import HealthCode, HistoryEntry

__all__ = ["record"]

QUIET_OUTCOMES = ("unchanged", "stalled", "suspended")
BAD_KEEP = 20


def record(ctx: ReconcileContext) -> None:
    """Store the stack's status and, when something happened, a history entry.

    Sets nothing new: it writes the condition ``run_once`` computed.
    """
    duration = time.time() - ctx.started
    if ctx.outcome in QUIET_OUTCOMES:
        _touch(ctx)
        return
    status = _status(ctx)
    if ctx.rt.sources.unavailable(ctx.source_name) is not None:
        status = replace(status, sync="Unknown")  # git cannot say what is current
    ctx.rt.store.put_status(status)
    if ctx.health is not None:  # health was checked: the resource list is current
        ctx.rt.store.put_resources(ctx.stack, resource_docs(ctx))
    if _worth_history(ctx):
        ctx.rt.store.add_history(_entry(ctx, status, duration))
    reason = None if ctx.condition is None or ctx.error is None else ctx.condition.reason
    ctx.rt.metrics.observe(
        stack=ctx.stack, result=_result(ctx), duration=duration, error_reason=reason,
        drifted=len(ctx.drift), by_health=ctx.by_health)


def _touch(ctx: ReconcileContext) -> None:
    # Nothing ran: keep the recorded condition; a suspended stack says so.
    st = ctx.status
    if ctx.outcome == "suspended":
        st = replace(st, message=f"suspended (driftless resume {ctx.stack})",
                     source=ctx.source_name)
    ctx.rt.store.put_status(st)


def _worth_history(ctx: ReconcileContext) -> bool:
    return bool(ctx.results or ctx.error or ctx.drift or ctx.mark_bad
                or ctx.trigger in ("manual", "rollback") or ctx.revision != ctx.status.revision)


def _result(ctx: ReconcileContext) -> str:
    if ctx.error is not None:
        return "stalled" if isinstance(ctx.error, ConfigError) else "error"
    return "applied" if ctx.applied else "unchanged"


def _message(ctx: ReconcileContext) -> str:
    parts: list[str] = []
    if isinstance(ctx.error, RenderError):
        parts.append("; ".join(str(p) for p in ctx.error.problems[:3]))
    elif ctx.error is not None:
        parts.append(str(ctx.error))
    parts.extend(ctx.notes)
    if ctx.error is None and ctx.reason:
        parts.append(ctx.reason)
    if ctx.health is not None and ctx.health.code is not HealthCode.HEALTHY and ctx.health.message:
        parts.append(ctx.health.message)
    return "; ".join(parts)


def _status(ctx: ReconcileContext) -> StackStatus:
    st, rev = ctx.status, ctx.revision
    good = ctx.error is None and not ctx.skip_apply and ctx.plan is not None
    stalled = isinstance(ctx.error, ConfigError)
    health = ctx.health.code.label if ctx.health is not None else st.health
    healthy = ctx.health is not None and ctx.health.code is HealthCode.HEALTHY
    bad = st.bad_revisions + ((ctx.mark_bad,) if ctx.mark_bad else ())
    now_healthy = rev if good and healthy and not ctx.mark_bad else None
    seen = tuple(r for r in st.healthy_revisions if r != now_healthy)
    return StackStatus(
        stack=ctx.stack, source=ctx.source_name,
        sync="Synced" if good and not ctx.failed() else ("OutOfSync" if ctx.plan else st.sync),
        health=health,
        health_message=ctx.health.message if ctx.health is not None else st.health_message,
        revision=rev if good else st.revision, attempted=rev or st.attempted,
        digest=ctx.desired.digest if good and ctx.desired is not None else st.digest,
        last_apply=time.time() if ctx.applied else st.last_apply,
        message=_message(ctx),
        conditions=(ctx.condition,) if ctx.condition is not None else st.conditions,
        last_healthy=now_healthy or st.last_healthy,
        healthy_revisions=(seen + ((now_healthy,) if now_healthy else ()))[-BAD_KEEP:],
        bad_revisions=tuple(dict.fromkeys(bad))[-BAD_KEEP:],
        stalled_revision=rev if stalled else None,
        resources=ctx.by_health or dict(st.resources), controls=st.controls,
    )


def _entry(ctx: ReconcileContext, status: StackStatus, duration: float) -> HistoryEntry:
    summary = ctx.plan.summary() if ctx.plan is not None else {}
    if ctx.drift:
        summary = {**summary, "drift": len(ctx.drift)}
    return HistoryEntry(
        stack=ctx.stack, revision=ctx.revision, digest=status.digest, trigger=ctx.trigger,
        started=ctx.started, duration=round(duration, 4), summary=summary,
        results=tuple(r.to_json() for r in ctx.results),
        changes=change_docs(ctx.plan),
        reason=ctx.reason or status.message, outcome=_result(ctx), actor=ctx.actor,
    )
