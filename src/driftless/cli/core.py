"""plan, apply, destroy, refresh, import, output: the Terraform-style verbs."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from driftless.cli.context import Context, project_context
from driftless.cli.display import apply_progress, print_plan, print_results
from driftless.cli.options import DirOpt, EnvOpt, JsonOpt, StackOpt, VarFileOpt, VarOpt
from driftless.cli.output import console, err_console, guard, print_json
from driftless.cli.render_cmd import NoSecretsOpt, SecretWarnings
from driftless.errors import ConfigError, StalePlanError
from driftless.model import Plan, ResourceId, SavedPlan
from driftless.state.lease import hold_lock

__all__ = ["register"]


def _ctx(directory: Path | None, env: str | None, var: list[str] | None,
         var_file: list[Path] | None) -> Any:
    return project_context(directory=directory, env=env, variables=var, var_files=var_file)


def plan(
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: StackOpt = None, as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option("-out", "--out", help="Save plan to FILE.")] = None,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan deleting everything.")] = False,
    refresh: Annotated[bool, typer.Option(help="Read live (--no-refresh: trust state).")] = True,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 no changes, 2 changes, 1 error.")] = False,
    no_secrets: NoSecretsOpt = False,
) -> None:
    """Show what apply would change, and why.

    --no-secrets plans where secrets are not (CI): each one not given is a warning
    and a placeholder, and the plan is marked as one that cannot be applied.

    Example: driftless plan --env prod -out plan.json
    """
    with guard("nothing was planned"), _ctx(directory, env, var, var_file) as ctx:
        missing = _without_secrets(ctx, saving=out is not None) if no_secrets else None
        order = ctx.order(stack)
        ctx.check_all(order)
        plans = [_plan_one(ctx, name, destroy=destroy, refresh=refresh) for name in order]
        _show_plans(plans, as_json=as_json, missing=missing, root=ctx.project.root)
        if out is not None:
            saved = SavedPlan(tuple(plans), env=env, variables=ctx.options.variables,
                              var_files=tuple(str(p) for p in var_file or ()))
            out.write_text(saved.dumps())
            if not as_json:
                console.print(f"Saved to {out}. Apply exactly this plan with: "
                              f"driftless apply {out}")
        elif not as_json and not (missing and missing.found) and any(
                p.has_changes() for p in plans):
            console.print("Run `driftless apply` to apply, or `driftless plan -out plan.json` "
                          "to review first.")
    if detailed_exitcode and any(p.has_changes() for p in plans):
        raise typer.Exit(2)


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


def _plan_one(ctx: Context, name: str, *, destroy: bool, refresh: bool) -> Plan:
    desired = ctx.render(name)
    with hold_lock(ctx.backend, name, operation="plan"):
        return ctx.engine.plan(desired, destroy=destroy, refresh=refresh)


def _show_plans(plans: list[Plan], *, as_json: bool, missing: SecretWarnings | None = None,
                root: Path | None = None) -> None:
    if as_json:
        doc: dict[str, Any] = {"plans": [p.to_json() for p in plans]}
        if missing is not None and root is not None:  # --no-secrets
            doc.update(applicable=not missing.found, warnings=missing.to_json(root))
        print_json(doc)
        return
    for p in plans:
        print_plan(p)
        console.print()
    if missing is not None and root is not None and missing.found:
        missing.print(root)
        console.print("[bold]This plan used placeholders for secrets (--no-secrets) and "
                      "cannot be applied.[/]")


def apply(
    plan_file: Annotated[Path | None, typer.Argument(help="A plan saved with plan -out.")] = None,
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: StackOpt = None, as_json: JsonOpt = False,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask.")] = False,
    break_glass: Annotated[bool, typer.Option(
        "--break-glass", help="Apply by hand in a never-by-hand project (recorded).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for --break-glass.")] = None,
) -> None:
    """Make reality match the configuration (or apply exactly a saved plan).

    Example: driftless apply --auto-approve   |   driftless apply plan.json
    """
    if plan_file is not None:
        _apply_saved(plan_file, directory, break_glass, reason, as_json)
        return
    with guard(), _ctx(directory, env, var, var_file) as ctx:
        _policy(ctx, break_glass, reason, "apply")
        order = ctx.order(stack)
        ctx.check_all(order)
        ok = all(_apply_stack(ctx, n, auto_approve=auto_approve, as_json=as_json)
                 for n in order)
    if not ok:
        raise typer.Exit(1)


def destroy(
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: StackOpt = None, as_json: JsonOpt = False,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask.")] = False,
    break_glass: Annotated[bool, typer.Option("--break-glass", help="See apply.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for --break-glass.")] = None,
) -> None:
    """Delete everything driftless manages, except protected resources.

    Example: driftless destroy --env stage --auto-approve
    """
    with guard(), _ctx(directory, env, var, var_file) as ctx:
        _policy(ctx, break_glass, reason, "destroy")
        order = ctx.order(stack)
        ctx.check_all(order)
        ok = all(_apply_stack(ctx, n, auto_approve=auto_approve, as_json=as_json, destroy=True)
                 for n in reversed(order))
    if not ok:
        raise typer.Exit(1)


def _policy(ctx: Context, break_glass: bool, reason: str | None, operation: str) -> None:
    from driftless.agent.policy import check_manual_apply, in_agent_or_ci, record_break_glass

    settings = ctx.project.settings
    check_manual_apply(settings, break_glass=break_glass, reason=reason)
    if settings.get("never_by_hand") and break_glass and reason and not in_agent_or_ci():
        record_break_glass(ctx.project.root, stacks=list(ctx.project.stacks), reason=reason,
                           operation=operation)
        err_console.print(f"break-glass {operation} recorded in history: {reason}")


def _apply_stack(ctx: Context, name: str, *, auto_approve: bool, as_json: bool,
                 destroy: bool = False) -> bool:
    desired = ctx.render(name)
    with hold_lock(ctx.backend, name, operation="destroy" if destroy else "apply"):
        the_plan = ctx.engine.plan(desired, destroy=destroy)
        if not as_json:
            print_plan(the_plan)
        if not the_plan.pending():
            _report_refused(the_plan, destroy=destroy, as_json=as_json)
            return not (the_plan.refused() and not destroy)
        _confirm(auto_approve, name)
        return _run_apply(ctx, the_plan, desired, as_json=as_json)


def _report_refused(the_plan: Plan, *, destroy: bool, as_json: bool) -> None:
    if as_json:
        print_json(the_plan.to_json())
    for c in the_plan.refused():
        word = "skipped (protected)" if destroy else "refused: protected"
        err_console.print(f"{c.id}: {word}; unprotect with: driftless state unprotect {c.id}")


def _confirm(auto_approve: bool, name: str) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfigError("refusing to apply without confirmation: stdin is not a terminal",
                          hint="pass --auto-approve, or apply a saved plan file")
    if not typer.confirm(f"Apply these changes to stack '{name}'?"):
        raise typer.Exit(1)


def _run_apply(ctx: Context, the_plan: Plan, desired: Any, *, as_json: bool) -> bool:
    if as_json:
        os.environ["DRIFTLESS_QUIET"] = "1"  # providers' own progress bars stay off too
    with apply_progress(len(the_plan.pending()), enabled=not as_json) as advance:
        report = ctx.engine.apply(the_plan, desired, on_result=advance)
    if as_json:
        print_json({"plan": the_plan.to_json(), "results": [r.to_json() for r in report.results],
                    "serial": report.snapshot.serial})
    else:
        print_results(report.results)
        _report_refused(the_plan, destroy=the_plan.destroy, as_json=False)
    return report.ok


def _apply_saved(plan_file: Path, directory: Path | None, break_glass: bool,
                 reason: str | None, as_json: bool) -> None:
    with guard():
        doc = _load_plan_file(plan_file)
        with project_context(directory=directory, env=doc.get("env"),
                             variables=[f"{k}={v}" for k, v in doc.get("variables", {}).items()],
                             var_files=[Path(p) for p in doc.get("var_files", [])]) as ctx:
            _policy(ctx, break_glass, reason, "apply")
            ok = all(_apply_saved_stack(ctx, saved, as_json=as_json) for saved in doc["plans"])
    if not ok:
        raise typer.Exit(1)


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
        if desired.digest != saved["digest"]:
            raise StalePlanError(
                f"stack '{name}': the configuration changed since this plan was made",
                hint="run plan -out again and review the new plan")
        fresh = ctx.engine.plan(desired, destroy=bool(saved.get("destroy")))
        _same_changes(name, saved, fresh)
        if not fresh.pending():
            return True
        return _run_apply(ctx, fresh, desired, as_json=as_json)


def _same_changes(name: str, saved: dict[str, Any], fresh: Plan) -> None:
    want = {(c["address"], c["action"]) for c in saved["changes"] if not c.get("refused")}
    have = {(str(c.id), c.action.value) for c in fresh.pending()}
    if want != have:
        moved = sorted(want ^ have)[:3]
        raise StalePlanError(
            f"stack '{name}': the world moved since this plan was made "
            f"({', '.join(f'{a} {act}' for a, act in moved)}); the saved plan was not applied",
            hint="run plan -out again and review the new plan")


def refresh(
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: StackOpt = None, as_json: JsonOpt = False,
) -> None:
    """Read live state, report drift, and record it in state.

    Example: driftless refresh --stack web
    """
    report: dict[str, list[dict[str, Any]]] = {}
    with guard(), _ctx(directory, env, var, var_file) as ctx:
        for name in ctx.order(stack):
            desired = ctx.render(name)
            with hold_lock(ctx.backend, name, operation="refresh"):
                drift, _snap = ctx.engine.refresh(desired)
            report[name] = [c.to_json() for c in drift]
    if as_json:
        print_json({"drift": report})
        return
    for name, items in report.items():
        console.print(f"[bold]stack {name}[/]: " + (f"{len(items)} drifted" if items
                                                    else "no drift"))
        for item in items:
            console.print(f"  ~ {item['address']}   {item['reason']}")


def import_(
    address: Annotated[str, typer.Argument(help="Resource address, e.g. local:file/motd")],
    import_id: Annotated[str, typer.Argument(metavar="ID", help="The provider's id (a path, ...)")],
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Stack holding it.")] = None,
) -> None:
    """Adopt an existing object into state.

    Example: driftless import local:file/motd /etc/motd
    """
    with guard(), _ctx(directory, env, var, var_file) as ctx:
        rid = _parse_address(address)
        name = stack or _stack_declaring(ctx, rid)
        desired = ctx.render(name)
        with hold_lock(ctx.backend, name, operation="import"):
            ctx.engine.import_resource(desired, rid, import_id)
    console.print(f"imported {rid} into stack '{name}'")


def _parse_address(address: str) -> ResourceId:
    try:
        return ResourceId.parse(address)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _stack_declaring(ctx: Context, rid: ResourceId) -> str:
    for name in ctx.order():
        if any(r.id == rid for r in ctx.render(name).resources):
            return name
    raise ConfigError(f"{rid} is not declared in any stack",
                      hint="add it to a stack.yaml first, then import it")


def output(
    name: Annotated[str | None, typer.Argument(help="One output's name.")] = None,
    directory: DirOpt = None, env: EnvOpt = None, stack: StackOpt = None, as_json: JsonOpt = False,
) -> None:
    """Print recorded outputs.

    Example: driftless output --json
    """
    with guard(), project_context(directory=directory, env=env) as ctx:
        outs = {s: dict(ctx.backend.read(s).outputs) for s in ctx.order(stack)}
    if name is not None:
        found = {s: o[name] for s, o in outs.items() if name in o}
        if not found:
            with guard():
                raise ConfigError(f"no output named '{name}'",
                                  hint="list them with: driftless output")
        value = next(iter(found.values()))
        print_json(value) if as_json else console.print(str(value))
        return
    if as_json:
        print_json(outs)
        return
    for s, o in outs.items():
        for k, v in sorted(o.items()):
            console.print(f"{s}.{k} = {v!r}" if len(outs) > 1 else f"{k} = {v!r}")


def register(app: typer.Typer) -> None:
    """Add the core verbs."""
    app.command()(plan)
    app.command()(apply)
    app.command()(destroy)
    app.command()(refresh)
    app.command("import")(import_)
    app.command()(output)
