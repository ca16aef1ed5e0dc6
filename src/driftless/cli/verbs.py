"""The bodies of plan, apply and destroy, shared by both command lines.

``driftless.cli.core`` declares these commands for typer (options, help) and
calls these functions; ``driftless.cli.fast`` calls them directly for the
ordinary runs, so a plan starts without importing typer or rich. Neither is
imported here at module level: a prompt (typer) and a terminal (rich) import
them when they are needed.

Saved plans (``plan -out``) are written 0600 from the start and keep each
sensitive ``--var`` value only as its keyed digest; ``apply plan.json``
takes the value again from the operator (``--var``, ``DRIFTLESS_VAR_x``,
a values file) and refuses when its digest differs from the recorded one.
An exit code is ``SystemExit``, which is what typer turns its own ``Exit`` into.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from driftless.cli import plan_extras as extras
from driftless.cli.context import Context, parse_vars, project_context
from driftless.cli.display import apply_progress, print_plan, print_results
from driftless.cli.output import console, err_console, guard, print_json
from driftless.cli.plain import escape
from driftless.cli.secret_warnings import SecretWarnings
from driftless.errors import ConfigError, StalePlanError
from driftless.model import Change, Plan, SavedPlan, sensitive_digest
from driftless.model.background import aside
from driftless.model.digest_key import KEY_FILE_ENV, current_key
from driftless.model.gcpause import outlive
from driftless.model.redact import secret_texts
from driftless.model.values import digest_key_of
from driftless.plan import adopt_unmanaged, import_command
from driftless.providers.base import keeping_views
from driftless.render.options import ENV_PREFIX
from driftless.state.lease import hold_lock

__all__ = ["apply", "destroy", "plan"]


def _ctx(directory: Path | None, env: str | None, var: list[str] | None,
         var_file: list[Path] | None) -> Any:
    return project_context(directory=directory, env=env, variables=var, var_files=var_file)


def plan(
    *, directory: Path | None = None, env: str | None = None, var: list[str] | None = None,
    var_file: list[Path] | None = None, stack: list[str] | None = None, as_json: bool = False,
    out: Path | None = None, destroy: bool = False, refresh: bool = True,
    detailed_exitcode: bool = False, no_secrets: bool = False, adopt: bool = False,
    fmt: str | None = None, checks: list[Path] | None = None, changed_since: str | None = None,
) -> None:
    """``driftless plan`` (see ``driftless.cli.core.plan`` for what the options do)."""
    fmt = extras.output_format(fmt, as_json)
    as_json = fmt != "text"
    with guard("nothing was planned"), _ctx(directory, env, var, var_file) as ctx:
        missing = _without_secrets(ctx, saving=out is not None) if no_secrets else None
        order = ctx.order(stack)
        reasons: list[str] = []
        if changed_since is not None:
            order, reasons = extras.select_changed(ctx, changed_since, order)
            extras.show_selection(reasons, fmt)
        ctx.check_all(order)
        plans = [_plan_one(ctx, name, destroy=destroy, refresh=refresh, adopt=adopt)
                 for name in order]
        report = extras.check_plans(ctx, plans, checks)
        doc = _show_plans(plans, as_json=as_json, missing=missing, root=ctx.project.root,
                          quiet=fmt != "text")
        extras.show(fmt, plans, report, reasons, doc)
        if not report.ok:
            err_console.print(f"error: {len(report.errors)} policy check(s) failed; the plan "
                              "was not saved", emoji=False)
            raise SystemExit(1)
        if out is not None:
            _save_plan(ctx, plans, out, env=env, var_file=var_file)
            if not as_json:
                console.print(f"Saved to {out}. Apply exactly this plan with: "
                              f"driftless apply {out}")
        elif not as_json and any(p.unmanaged() for p in plans):
            console.print("Objects marked ? exist but are not managed: apply refuses them. "
                          "Review them, then take them over with `driftless apply --adopt`.")
        elif not as_json and not (missing and missing.found) and any(
                p.has_changes() for p in plans):
            console.print("Run `driftless apply` to apply, or `driftless plan -out plan.json` "
                          "to review first.")
    if detailed_exitcode and any(p.has_changes() for p in plans):
        raise SystemExit(2)


def _without_secrets(ctx: Context, *, saving: bool) -> SecretWarnings:
    """Make secrets optional for this plan; a plan made so is never saved, since
    its placeholders would be applied as values."""
    if saving:
        raise ConfigError("a plan made with --no-secrets cannot be saved with -out: it was "
                          "made with placeholders for secrets and cannot be applied",
                          hint="give the secrets (--var, a values file, DRIFTLESS_VAR_*) "
                               "and run plan -out again")
    missing = SecretWarnings()
    ctx.options = missing.optional(ctx.options)
    return missing


def _save_plan(ctx: Context, plans: list[Plan], out: Path, *, env: str | None,
               var_file: list[Path] | None) -> None:
    """Write the plan file: sensitive ``--var`` values as digests, mode 0600."""
    given = dict(ctx.options.variables)
    secret = _sensitive_var_names(ctx, [p.stack for p in plans], given)
    saved = SavedPlan(tuple(plans), env=env,
                      variables={k: v for k, v in given.items() if k not in secret},
                      var_files=tuple(str(p) for p in var_file or ()),
                      sensitive_variables={k: sensitive_digest(given[k]) for k in secret})
    _write_private(out, saved.dumps())


def _sensitive_var_names(ctx: Context, stacks: list[str], given: Mapping[str, str]) -> set[str]:
    """The ``--var`` names whose value is a secret: declared sensitive by a planned
    stack, or rendered into a secret anywhere (an overlay may declare it)."""
    from driftless.render.variables import parse_declarations  # plan -out only

    declared: set[str] = set()
    for name in stacks:
        doc = ctx.project.load_stack_doc(name)
        raw = doc.get("variables") if isinstance(doc, Mapping) else None
        declared |= {n for n, d in parse_declarations(raw, []).items() if d.sensitive}
    rendered = [([r.properties for r in d.resources], d.outputs) for d in ctx.rendered.values()]
    texts = secret_texts(rendered)
    return {k for k, v in given.items() if k in declared or (v and v in texts)}


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only (no window where it is not)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        if not path.is_file():
            raise
        path.unlink()  # an older file may be readable by others: replace, never reuse
        fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _plan_one(ctx: Context, name: str, *, destroy: bool, refresh: bool, adopt: bool) -> Plan:
    desired = ctx.render(name)
    with hold_lock(ctx.backend, name, operation="plan"):
        the_plan = ctx.engine.plan(desired, destroy=destroy, refresh=refresh)
    outlive(the_plan)
    return _adopting(replace(the_plan, awaiting=ctx.awaiting.get(name, {})), adopt)


def _adopting(the_plan: Plan, adopt: bool) -> Plan:
    """With ``--adopt``, unmanaged objects become adoptions instead of refusals."""
    return adopt_unmanaged(the_plan) if adopt and the_plan.unmanaged() else the_plan


def _show_plans(plans: list[Plan], *, as_json: bool, missing: SecretWarnings | None = None,
                root: Path | None = None, quiet: bool = False) -> dict[str, Any]:
    """Print the plans (or their JSON document, unless ``quiet``); the document."""
    doc: dict[str, Any] = {"plans": [p.to_json() for p in plans]}
    if missing is not None and root is not None:  # --no-secrets
        doc.update(applicable=not missing.found, warnings=missing.to_json(root))
    if as_json:
        if not quiet:
            print_json(doc)
        return doc
    for p in plans:
        print_plan(p)
        console.print()
    if missing is not None and root is not None and missing.found:
        missing.print(root)
        console.print("[bold]This plan used placeholders for secrets (--no-secrets) and "
                      "cannot be applied.[/]")
    return doc


def apply(
    *, plan_file: Path | None = None, directory: Path | None = None, env: str | None = None,
    var: list[str] | None = None, var_file: list[Path] | None = None,
    stack: list[str] | None = None, as_json: bool = False, auto_approve: bool = False,
    break_glass: bool = False, reason: str | None = None, adopt: bool = False,
) -> None:
    """``driftless apply`` (see ``driftless.cli.core.apply``)."""
    if plan_file is not None:
        _apply_saved(plan_file, directory, parse_vars(var), var_file, break_glass=break_glass,
                     reason=reason, as_json=as_json)  # adopts if the plan was made with --adopt
        return
    with guard(), _ctx(directory, env, var, var_file) as ctx:
        _policy(ctx, break_glass, reason, "apply")
        order = ctx.order(stack)
        ctx.check_all(order)
        ok = all(_apply_stack(ctx, n, auto_approve=auto_approve, as_json=as_json, adopt=adopt)
                 for n in order)
    if not ok:
        raise SystemExit(1)


def destroy(
    *, directory: Path | None = None, env: str | None = None, var: list[str] | None = None,
    var_file: list[Path] | None = None, stack: list[str] | None = None, as_json: bool = False,
    auto_approve: bool = False, break_glass: bool = False, reason: str | None = None,
) -> None:
    """``driftless destroy`` (see ``driftless.cli.core.destroy``)."""
    with guard(), _ctx(directory, env, var, var_file) as ctx:
        _policy(ctx, break_glass, reason, "destroy")
        order = ctx.order(stack)
        ctx.check_all(order)
        ok = all(_apply_stack(ctx, n, auto_approve=auto_approve, as_json=as_json, destroy=True)
                 for n in reversed(order))
    if not ok:
        raise SystemExit(1)


def _policy(ctx: Context, break_glass: bool, reason: str | None, operation: str) -> None:
    settings = ctx.project.settings
    if not settings.get("never_by_hand", False):
        return  # nothing to enforce or record: the agent package stays unimported
    from driftless.agent.policy import check_manual_apply, in_agent_or_ci, record_break_glass

    check_manual_apply(settings, break_glass=break_glass, reason=reason)
    if settings.get("never_by_hand") and break_glass and reason and not in_agent_or_ci():
        record_break_glass(ctx.project.root, stacks=list(ctx.project.stacks), reason=reason,
                           operation=operation)
        err_console.print(f"break-glass {operation} recorded in history: {reason}")


def _apply_stack(ctx: Context, name: str, *, auto_approve: bool, as_json: bool,
                 destroy: bool = False, adopt: bool = False) -> bool:
    with keeping_views():  # the render's checked properties, for the apply to take
        return _render_and_apply(ctx, name, auto_approve=auto_approve, as_json=as_json,
                                 destroy=destroy, adopt=adopt)


def _render_and_apply(ctx: Context, name: str, *, auto_approve: bool, as_json: bool,
                      destroy: bool, adopt: bool) -> bool:
    desired = ctx.render(name)
    with hold_lock(ctx.backend, name, operation="destroy" if destroy else "apply"):
        the_plan = _adopting(ctx.engine.plan(desired, destroy=destroy), adopt)
        outlive(the_plan)  # freed with a one-shot command's process, not piece by piece
        later = _plan_aside(the_plan, auto_approve=auto_approve, as_json=as_json)
        if not as_json and not later:
            print_plan(the_plan)
        if the_plan.unmanaged():
            _report_refused(the_plan, destroy=destroy, as_json=as_json)
            return False  # never overwrite what state does not own; nothing is applied
        if not the_plan.pending():
            _report_refused(the_plan, destroy=destroy, as_json=as_json)
            return not (the_plan.refused() and not destroy)
        _confirm(auto_approve, name)
        return _run_apply(ctx, the_plan, desired, as_json=as_json, plan_aside=later)


ASIDE_MOST = 1000
"""A plan of at least this many changes, applied without a question to a pipe or a
file, is printed by a forked child while the apply starts (``_plan_aside``)."""


def _plan_aside(the_plan: Plan, *, auto_approve: bool, as_json: bool) -> bool:
    """Whether the plan is printed aside, while it is applied: a plan of many changes
    (``ASIDE_MOST``) applied without a question, to output that is not a terminal
    (where a progress bar shows instead, and the plan is read before it moves on).
    Printing 10,000 changes is ~40 ms a child does on the other core; the apply
    waits for it before it prints anything else, so the output reads the same."""
    return (auto_approve and not as_json and not console.is_terminal
            and len(the_plan.pending()) >= ASIDE_MOST and not the_plan.unmanaged())


def _report_refused(the_plan: Plan, *, destroy: bool, as_json: bool) -> None:
    if as_json:
        print_json(the_plan.to_json())
    for c in the_plan.refused():
        if c.unmanaged:
            _report_unmanaged(c)
            continue
        word = "skipped (protected)" if destroy else "refused: protected"
        err_console.print(f"{c.id}: {word}; unprotect with: driftless state unprotect {c.id}")
    if the_plan.unmanaged():
        err_console.print(f"error: stack '{the_plan.stack}': {len(the_plan.unmanaged())} "
                          "object(s) exist but are not managed; nothing was applied")


def _report_unmanaged(change: Change) -> None:
    """Why apply refused an existing object, and the two ways to take it over."""
    attrs = change.prior.attributes if change.prior is not None else {}
    err_console.print(escape(f"{change.id}: refused: exists, not managed; adopt it with: "
                             f"{import_command(change.id, attrs)}, or apply --adopt"))


def _confirm(auto_approve: bool, name: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfigError("refusing to apply without confirmation: stdin is not a terminal",
                          hint="pass --auto-approve, or apply a saved plan file")
    import typer  # a prompt: only the typer command line asks (see driftless.cli.fast)

    if not typer.confirm(f"Apply these changes to stack '{name}'?"):
        raise typer.Exit(1)


def _run_apply(ctx: Context, the_plan: Plan, desired: Any, *, as_json: bool,
               plan_aside: bool = False) -> bool:
    if as_json:
        os.environ["DRIFTLESS_QUIET"] = "1"  # providers' own progress bars stay off too
    shown = aside(lambda: print_plan(the_plan)) if plan_aside else contextlib.nullcontext()
    with shown, apply_progress(len(the_plan.pending()), enabled=not as_json) as advance:
        report = ctx.engine.apply(the_plan, desired, on_result=advance)
    if as_json:
        print_json({"plan": the_plan.to_json(), "results": [r.to_json() for r in report.results],
                    "serial": report.snapshot.serial})
    else:
        print_results(report.results)
        _report_refused(the_plan, destroy=the_plan.destroy, as_json=False)
    return report.ok


def _apply_saved(plan_file: Path, directory: Path | None, given: dict[str, str],
                 var_file: list[Path] | None, *, break_glass: bool, reason: str | None,
                 as_json: bool) -> None:
    with guard():
        doc = _load_plan_file(plan_file)
        _check_secret_vars(plan_file, doc.get("sensitive_variables") or {}, given,
                           from_files=bool(var_file))
        variables = {**doc.get("variables", {}), **given}
        files = [Path(p) for p in doc.get("var_files", [])] + list(var_file or ())
        with project_context(directory=directory, env=doc.get("env"),
                             variables=[f"{k}={v}" for k, v in variables.items()],
                             var_files=files) as ctx:
            _policy(ctx, break_glass, reason, "apply")
            for saved in doc["plans"]:  # a stale stack anywhere: nothing is applied
                _check_config(ctx, saved["stack"], saved, ctx.render(saved["stack"]))
            ok = all(_apply_saved_stack(ctx, saved, as_json=as_json) for saved in doc["plans"])
    if not ok:
        raise SystemExit(1)


def _check_secret_vars(plan_file: Path, recorded: Mapping[str, str], given: Mapping[str, str],
                       *, from_files: bool) -> None:
    """Each sensitive ``--var`` the plan was made with must come back with the same digest.

    From ``--var`` or ``DRIFTLESS_VAR_<name>``; a value in a ``--var-file``
    given now is checked by the render digest (any other change is too).
    """
    for name, digest in sorted(recorded.items()):
        value = given.get(name, os.environ.get(ENV_PREFIX + name))
        if value is None and from_files:
            continue
        if value is None:
            raise ConfigError(
                f"{plan_file} was made with sensitive variable '{name}', which plan files "
                "keep only as a digest; the saved plan was not applied",
                hint=f"give the same value again: driftless apply {plan_file} --var {name}=... "
                     f"(or {ENV_PREFIX}{name}, or --var-file)")
        if sensitive_digest(value) != digest:
            raise StalePlanError(
                f"sensitive variable '{name}' is not the value {plan_file} was made with; "
                "the saved plan was not applied", hint=_digest_hint(digest))


def _digest_hint(digest: str) -> str:
    """Why a digest may differ though the value is the same: another digest key."""
    made_with, mine = digest_key_of(digest), current_key().id
    if made_with != mine:
        return (f"the plan was made with digest key {made_with or '(legacy)'} and this "
                f"machine uses {mine}: share the key file ({KEY_FILE_ENV}), or plan again here")
    return "give the value the plan was made with, or run plan -out again"


def _load_plan_file(path: Path) -> dict[str, Any]:
    try:
        return SavedPlan.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read plan file {path}: {exc}",
                          hint="create one with: driftless plan -out plan.json") from None


def _apply_saved_stack(ctx: Context, saved: dict[str, Any], *, as_json: bool) -> bool:
    name = saved["stack"]
    desired = ctx.render(name)
    with hold_lock(ctx.backend, name, operation="apply"):
        snap = ctx.backend.read(name)
        fresh_stack = snap.serial == 0 == saved["serial"]  # no lineage until first write
        if not fresh_stack and (snap.lineage, snap.serial) != (saved["lineage"], saved["serial"]):
            raise StalePlanError(
                f"stack '{name}': the state changed since this plan was made "
                f"(serial {saved['serial']} -> {snap.serial}); the saved plan was not applied",
                hint="run plan -out again and review the new plan")
        awaited = _check_config(ctx, name, saved, desired)
        fresh = _adopting(ctx.engine.plan(desired, destroy=bool(saved.get("destroy"))),
                          bool(saved.get("adopt")))
        if awaited:
            _narrowed_changes(name, saved, fresh)
            if not as_json:
                console.print(f"stack '{name}' was planned before {awaited} recorded the "
                              "values it uses; planned again with them:")
                print_plan(fresh)
        else:
            _same_changes(name, saved, fresh)
        if fresh.unmanaged():
            _report_refused(fresh, destroy=fresh.destroy, as_json=as_json)
            return False
        if not fresh.pending():
            return True
        return _run_apply(ctx, fresh, desired, as_json=as_json)


def _check_config(ctx: Context, name: str, saved: dict[str, Any], desired: Any) -> str:
    """Refuse a saved plan whose stack configuration moved. A stack planned with
    upstream outputs not yet recorded renders differently once they are; it is
    rendered again with those outputs unknown, as planned, to compare. Returns
    the upstream stacks it waited on ("" when none)."""
    awaiting = saved.get("awaiting") or {}
    if desired.digest == saved["digest"] and not awaiting:
        return ""
    if awaiting and ctx.render(name, as_planned=awaiting).digest == saved["digest"]:
        return ", ".join(f"stack {dep}" for dep in sorted(awaiting))
    if desired.digest == saved["digest"]:
        return ""
    raise StalePlanError(
        f"stack '{name}': the configuration changed since this plan was made",
        hint="run plan -out again and review the new plan")


_NARROWER = {("replace", "update")}  # (planned, now): a known value may need less


def _narrowed_changes(name: str, saved: dict[str, Any], fresh: Plan) -> None:
    """Values the saved plan showed as known after apply are now known: every
    change must be one the plan showed, or a smaller one (an update where it
    feared a replacement); dropping a change that turned out a no-op is fine."""
    want = {c["address"]: c["action"] for c in saved["changes"] if not c.get("refused")}
    extra = sorted(f"{c.id} {c.action.value}" for c in fresh.pending()
                   if not _within(want.get(str(c.id)), c.action.value))
    if extra:
        raise StalePlanError(
            f"stack '{name}': with its upstream values known, it needs changes the saved "
            f"plan did not show ({', '.join(extra[:3])}); the saved plan was not applied",
            hint="run plan -out again and review the new plan")


def _within(planned: str | None, now: str) -> bool:
    return planned == now or (planned, now) in _NARROWER


def _same_changes(name: str, saved: dict[str, Any], fresh: Plan) -> None:
    want = {(c["address"], c["action"]) for c in saved["changes"] if not c.get("refused")}
    have = {(str(c.id), c.action.value) for c in fresh.pending()}
    if want != have:
        moved = sorted(want ^ have)[:3]
        raise StalePlanError(
            f"stack '{name}': the world moved since this plan was made "
            f"({', '.join(f'{a} {act}' for a, act in moved)}); the saved plan was not applied",
            hint="run plan -out again and review the new plan")
