"""The reconcile of one stack as a list of steps.

``STEPS = (fetch, render, plan, apply, prune, check_health, record)``. Each
step is a short function over a ``ReconcileContext``; its docstring names
the condition it can set. ``run_once`` walks them and nothing else does.
A revision that fails to render or plan raises before ``apply``, so it is
never partly applied: the last good revision stays in place.

I/O: through the collaborators only — git (fetch), the user's files
(render), the state backend and its lock (plan, apply, prune), providers
(plan, apply, health), the agent store (record).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from driftless.agent.context import ReconcileContext
from driftless.agent.reasons import drift_lines, redeploy_reason
from driftless.agent.record import record
from driftless.agent.reviewed import check_reviewed
from driftless.agent.schedule import next_run
from driftless.engine import Engine
from driftless.errors import ConfigError, ProviderError, WaitError
from driftless.model import Action, Health, HealthCode, Plan
from driftless.model.digest_key import current_key
from driftless.plan.memo import CleanMemo
from driftless.providers import ProviderSet
from driftless.providers.base import KindSpec
from driftless.render import RenderOptions, load_project, render_stack
from driftless.secrets.scan import scan_tree
from driftless.state import open_backend
from driftless.state.lease import hold_lock

__all__ = ["STEPS", "Step", "run_once"]

Step = Callable[[ReconcileContext], None]


def fetch(ctx: ReconcileContext) -> None:
    """Pick the revision to run: the pin, else the newest commit unless marked bad.

    Sets Ready=False/SourceUnavailable (via SourceError) when git is
    unreachable; ends the run early when nothing is to be done.
    """
    ctl, st, sources = ctx.status.controls, ctx.status, ctx.rt.sources
    if ctl.suspended:  # suspension wins over every trigger, a manual one included
        return ctx.finish("suspended")
    latest = sources.current(ctx.source_name)  # the loop fetched it; runs never do
    if ctl.pinned:
        ctx.source = sources.checkout(ctx.source_name, ctl.pinned)
        ctx.notes.append(f"pinned to {ctl.pinned[:7]} (driftless unpin {ctx.stack} to follow git)")
    elif latest.revision in st.bad_revisions and st.last_healthy:
        ctx.source = sources.checkout(ctx.source_name, st.last_healthy)
        ctx.notes.append(f"{latest.revision[:7]} failed health; staying on {st.last_healthy[:7]}"
                         " until a newer commit")
    else:
        ctx.source = latest
    _skip_when_unchanged(ctx)


def _skip_when_unchanged(ctx: ReconcileContext) -> None:
    st, rev = ctx.status, ctx.revision
    if ctx.trigger in ("manual", "rollback"):
        return
    if st.stalled and rev == st.stalled_revision:
        return ctx.finish("stalled")
    if ctx.trigger in ("poll", "webhook") and st.ready and rev == st.revision:
        return ctx.finish("unchanged")


def render(ctx: ReconcileContext) -> None:
    """Load the project at the revision and render the stack.

    Sets Stalled (ConfigError/RenderError, with file:line) when the files are
    wrong or, with ``refuse_plaintext_secrets``, when the revision's changes
    hold a plaintext secret; Ready=False/DependencyNotReady while a
    dependency is not Ready.
    """
    assert ctx.source is not None
    if ctx.rt.config.refuse_plaintext_secrets:
        _refuse_plaintext_secrets(ctx)
    project = load_project(ctx.source.path, policy=ctx.rt.config.policy)
    ref = project.stacks.get(ctx.stack)
    if ref is None:
        raise ConfigError(f"stack '{ctx.stack}' is not in {ctx.source.path}/driftless.yaml "
                          f"at {ctx.source.revision[:7]}",
                          hint="add it back, or remove it from the agent's stacks")
    if ctx.rt.fleet is not None and not ctx.rt.fleet.selects(project, ctx.stack):
        return ctx.finish("not selected")  # the stack's select: does not match this node
    for dep in ref.depends_on:
        if not ctx.rt.store.status(dep).ready:
            raise WaitError(f"waiting for stack '{dep}' to be Ready", retry_after=2.0)
    env = ctx.rt.sources.configs[ctx.source_name].env
    ctx.providers = ProviderSet(project.provider_config(env))
    ctx.exits.callback(ctx.providers.close)
    ctx.backend = open_backend(project.state_url, root=ctx.rt.config.state_dir)
    ctx.exits.callback(ctx.backend.close)
    outputs = {dep: ctx.backend.read(dep).outputs for dep in ref.depends_on}
    # fleet mode: the node's name, tags and peers as DRIFTLESS_VAR_* values
    environ = ctx.rt.fleet.environ(os.environ) if ctx.rt.fleet is not None else None
    ctx.desired = render_stack(
        project, ctx.stack, RenderOptions(env=env, revision=ctx.source.revision,
                                          environ=environ),
        stack_outputs=outputs, kinds=_kind_lookup(ctx.providers))
    ctx.project = project
    ctx.settings = ctx.rt.config.settings_for(ctx.stack).merged(ctx.desired.settings)


def _refuse_plaintext_secrets(ctx: ReconcileContext) -> None:
    """Stall a revision whose changed files hold a plaintext secret, before anything runs.

    Only files changed since the last applied revision are scanned (every
    file on the first run), so a finding is what this revision adds. The
    message names file:line:col and the kind, never the secret or a preview
    of it: it is kept in status, history and logs.
    """
    assert ctx.source is not None
    old, new = ctx.status.revision, ctx.source.revision
    if old == new:
        return  # already scanned when it was first applied
    only = ctx.rt.sources.changed_paths(ctx.source_name, old, new) if old else None
    report = scan_tree(ctx.source.path, only=only, use_git=False)
    if report.findings:
        first, more = report.findings[0], len(report.findings) - 1
        where = f"{first.path}:{first.line}:{first.column}"
        raise ConfigError(
            f"refusing revision {new[:7]}: plaintext secret in {where} ({first.kind})"
            + (f" and {more} more" if more else ""),
            hint="remove and rotate it, encrypt it with SOPS, or mark a false positive "
                 "with '# driftless:allow-secret'; driftless scan lists every finding")


def _kind_lookup(providers: ProviderSet) -> Callable[[str, str], KindSpec | None]:
    def lookup(provider: str, kind: str) -> KindSpec | None:
        try:
            return providers.spec(provider, kind)
        except ConfigError:
            return None  # not installed: the plan step names it
    return lookup


def _clean_memo(ctx: ReconcileContext) -> CleanMemo | None:
    """The clean-plan memo in the agent's state directory: an unchanged stack's
    periodic drift check then stats its files instead of reading them."""
    try:
        key = current_key().secret
    except ConfigError:
        return None
    return CleanMemo(ctx.rt.config.state_dir / "cache", key=key, context=ctx.providers.config)


def plan(ctx: ReconcileContext) -> None:
    """Take the stack's lock and plan against state and live reads.

    Sets Ready=False/LockHeld when another process holds the lock, and
    Stalled when the plan deletes a protected resource or would overwrite an
    object that exists but is not managed. A new revision that renders exactly
    as the deployed one is not planned (see ``_render_unchanged``).
    """
    ctx.engine = Engine(providers=ctx.providers, backend=ctx.backend,
                        workers=ctx.rt.config.workers, memo=_clean_memo(ctx))
    if _render_unchanged(ctx):
        return
    ctx.exits.enter_context(
        hold_lock(ctx.backend, ctx.stack, operation="agent reconcile", lease=60.0, wait=0.0))
    ctx.plan = planned = ctx.engine.plan(ctx.desired, refresh=True)
    if not planned.can_apply():
        _refuse(planned)
    wanted = {r.id for r in ctx.desired.resources}
    ctx.orphans = frozenset(c.id for c in planned.pending()
                            if c.action is Action.DELETE and c.id not in wanted)
    if ctx.revision == ctx.status.revision:
        ctx.drift = drift_lines(planned)
    reviewed = check_reviewed(ctx)  # the plan CI saved for this revision, when there is one
    ctx.reason = "; ".join(r for r in (reviewed, redeploy_reason(ctx)) if r)


def _render_unchanged(ctx: ReconcileContext) -> bool:
    """Change detection: a new commit that leaves this stack's render digest as
    deployed (its files, values and its upstream stacks' outputs all render the
    same) needs no plan; it is recorded as deployed without reading the world.
    Drift checks, manual runs and rollbacks still plan."""
    st = ctx.status
    if ctx.trigger not in ("poll", "webhook") or not st.ready or not st.digest \
            or ctx.revision == st.revision or st.digest != ctx.desired.digest:
        return False
    snap = ctx.backend.read(ctx.stack)
    ctx.plan = Plan(ctx.stack, ctx.revision, ctx.desired.digest, snap.lineage, snap.serial, ())
    ctx.notes.append(f"render unchanged since {str(st.revision)[:7]}: not planned")
    return True


def _refuse(planned: Plan) -> None:
    """Stalled: objects that exist but are not managed are never overwritten by the
    agent (an operator adopts them), nor are protected resources deleted."""
    unmanaged = [str(c.id) for c in planned.refused() if c.unmanaged]
    if unmanaged:
        raise ConfigError(f"objects exist but are not managed: {', '.join(unmanaged)}",
                          hint="review them, then adopt them once by hand: "
                               "driftless apply --adopt (or driftless import ADDRESS ID)")
    refused = ", ".join(str(c.id) for c in planned.refused())
    raise ConfigError(f"the plan deletes protected resources: {refused}",
                      hint="protect them in git again, or unprotect with "
                           "driftless state unprotect ADDRESS")


def apply(ctx: ReconcileContext) -> None:
    """Apply the revision's changes except pruning.

    With self_heal off, drift is only recorded (sync OutOfSync). Failed
    resources are data; ``run_once`` turns them into Ready=False/ApplyFailed.
    """
    assert ctx.plan is not None
    if ctx.drift and ctx.status.revision == ctx.revision and not ctx.settings.self_heal:
        ctx.skip_apply = True
        ctx.notes.append(f"drift found in {len(ctx.drift)} resources; self_heal is off")
        return
    changes = tuple(c for c in ctx.plan.changes if c.id not in ctx.orphans)
    if not any(c.is_change for c in changes) or ctx.rt.stopping():
        return
    if ctx.rt.fleet is not None:
        ctx.rt.fleet.before_apply(ctx)  # a rollout slot first, or WaitError
    report = ctx.engine.apply(replace(ctx.plan, changes=changes), ctx.desired)
    ctx.results.extend(report.results)
    ctx.snapshot = report.snapshot
    ctx.applied = True


def prune(ctx: ReconcileContext) -> None:
    """Delete what state holds but the revision no longer declares.

    With ``prune: false`` the orphans are kept and listed in the message.
    """
    if not ctx.orphans or ctx.skip_apply or ctx.rt.stopping() or ctx.failed():
        return
    if not ctx.settings.prune:
        ctx.notes.append(f"{len(ctx.orphans)} resources no longer in git kept (prune: false)")
        return
    assert ctx.plan is not None
    snap = ctx.snapshot if ctx.snapshot is not None else ctx.backend.read(ctx.stack)
    deletes = tuple(c for c in ctx.plan.changes if c.id in ctx.orphans)
    sub = replace(ctx.plan, lineage=snap.lineage, serial=snap.serial, changes=deletes)
    report = ctx.engine.apply(sub, ctx.desired)
    ctx.results.extend(report.results)
    ctx.snapshot = report.snapshot
    ctx.applied = True


def check_health(ctx: ReconcileContext) -> None:
    """Read every resource's health; sets the stack health.

    With ``auto_rollback`` a newly applied revision that ends Degraded or
    Missing is marked bad, and the next run returns to the last healthy one.
    """
    ctx.healths = healths = ctx.engine.health(ctx.stack)
    ctx.health = Health.worst(list(healths.values()))
    counts: dict[str, int] = {}
    for h in healths.values():
        counts[h.code.label] = counts.get(h.code.label, 0) + 1
    ctx.by_health = counts
    new_revision = ctx.revision != ctx.status.revision
    bad = ctx.health.code in (HealthCode.DEGRADED, HealthCode.MISSING) or bool(ctx.failed())
    last = ctx.status.last_healthy
    if (bad and new_revision and ctx.settings.auto_rollback and last
            and last != ctx.revision and not ctx.status.controls.pinned):
        ctx.mark_bad = ctx.revision
        ctx.notes.append(f"auto-rollback: {str(ctx.revision)[:7]} is unhealthy; "
                         f"returning to {last[:7]}")
    if ctx.rt.fleet is not None:
        ctx.rt.fleet.after_health(ctx)  # report the health gate, release or hold the slot


STEPS: tuple[Step, ...] = (fetch, render, plan, apply, prune, check_health, record)


def run_once(ctx: ReconcileContext, *, attempt: int = 0) -> ReconcileContext:
    """Walk the steps for one stack; always ends with ``record``.

    The first exception stops the walk; ``next_run`` turns it (or success)
    into the condition and the delay that ``record`` stores.
    """
    with ctx.exits:
        for step in STEPS[:-1]:
            if ctx.done:
                break
            try:
                step(ctx)
            except Exception as exc:  # every error becomes a condition, never a crash
                ctx.error = exc
                break
        if ctx.error is None and ctx.failed():
            first = ctx.failed()[0]
            ctx.error = ProviderError(f"{len(ctx.failed())} resources failed; first: "
                                      f"{first.id}: {first.message}", retryable=True)
    interval = ctx.rt.sources.configs[ctx.source_name].interval
    ctx.condition, ctx.delay = next_run(ctx.error, attempt, interval=interval)
    down = ctx.rt.sources.unavailable(ctx.source_name)
    if ctx.condition.status and down is not None:
        # Applied the last fetched revision, but git cannot say it is still current.
        ctx.condition = next_run(down, 0)[0]
        ctx.notes.insert(0, ctx.rt.sources.unavailable_note(ctx.source_name))
    if ctx.mark_bad:
        ctx.delay = 0.0
    record(ctx)
    return ctx
