"""plan, apply, destroy, refresh, import, output: the Terraform-style verbs.

plan, apply and destroy are declared here for typer (their options and
help) and run by ``driftless.cli.verbs``, which ``driftless.cli.fast``
calls directly for ordinary runs without typer; ``FAST_OPTIONS`` there
lists these options again, and a test keeps the two the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from driftless.cli.options import DirOpt, EnvOpt, JsonOpt, StackOpt, VarFileOpt, VarOpt
from driftless.cli.output import console, guard, print_json
from driftless.cli.render_cmd import NoSecretsOpt
from driftless.errors import ConfigError
from driftless.model import ResourceId

if TYPE_CHECKING:
    from driftless.cli.context import Context

# The engine, state and renderer are imported by the commands when they run, not
# here: ``driftless --help`` registers every command and runs none.

__all__ = ["register"]

AdoptOpt = Annotated[bool, typer.Option(
    "--adopt", help="Take over objects that exist but are not in state (matching ones are "
                    "recorded as they are; differing ones are adopted, then updated).")]
FormatOpt = Annotated[str | None, typer.Option(
    "--format", metavar="text|markdown|json",
    help="How to print the plan: text (default), markdown (for a pull request comment) "
         "or json (like --json).")]
ChecksOpt = Annotated[list[Path] | None, typer.Option(
    "--checks", metavar="FILE",
    help="Also run the policy rules defined in this Python file (repeatable; also "
         "DRIFTLESS_CHECKS). Rules from the repository itself are YAML only.")]
ChangedOpt = Annotated[str | None, typer.Option(
    "--changed-since", metavar="REV",
    help="Plan only the stacks whose render changed since git revision REV, and the "
         "stacks depending on their outputs; says why each one is planned.")]


def _ctx(directory: Path | None, env: str | None, var: list[str] | None,
         var_file: list[Path] | None) -> Any:
    from driftless.cli.context import project_context

    return project_context(directory=directory, env=env, variables=var, var_files=var_file)


def plan(
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: StackOpt = None, as_json: JsonOpt = False,
    out: Annotated[Path | None, typer.Option("-out", "--out", help="Save plan to FILE.")] = None,
    destroy: Annotated[bool, typer.Option("--destroy", help="Plan deleting everything.")] = False,
    refresh: Annotated[bool, typer.Option(help="Read live (--no-refresh: trust state).")] = True,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 no changes, 2 changes, 1 error.")] = False,
    no_secrets: NoSecretsOpt = False, adopt: AdoptOpt = False,
    fmt: FormatOpt = None, checks: ChecksOpt = None,
    changed_since: ChangedOpt = None,
) -> None:
    """Show what apply would change, and why.

    --no-secrets plans where secrets are not (CI): each one not given is a warning
    and a placeholder, and the plan is marked as one that cannot be applied.

    --adopt takes over objects that exist but are not in state (after state.db was
    lost, or state rm); without it they are listed with '?' and apply refuses them.

    Policy checks run on every plan; an error finding fails it (exit 1, nothing
    saved). --changed-since REV plans only what changed since REV, for CI.

    Example: driftless plan --env prod -out plan.json
    """
    from driftless.cli import verbs

    verbs.plan(directory=directory, env=env, var=var, var_file=var_file, stack=stack,
               as_json=as_json, out=out, destroy=destroy, refresh=refresh,
               detailed_exitcode=detailed_exitcode, no_secrets=no_secrets, adopt=adopt,
               fmt=fmt, checks=checks, changed_since=changed_since)


def apply(
    plan_file: Annotated[Path | None, typer.Argument(help="A plan saved with plan -out.")] = None,
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: StackOpt = None, as_json: JsonOpt = False,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask.")] = False,
    break_glass: Annotated[bool, typer.Option(
        "--break-glass", help="Apply by hand in a never-by-hand project (recorded).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for --break-glass.")] = None,
    adopt: AdoptOpt = False,
) -> None:
    """Make reality match the configuration (or apply exactly a saved plan).

    An object that exists but is not in state is never overwritten: apply refuses
    it (exit 1) unless --adopt takes it over.

    Example: driftless apply --auto-approve   |   driftless apply --adopt   |
    driftless apply plan.json
    """
    from driftless.cli import verbs

    verbs.apply(plan_file=plan_file, directory=directory, env=env, var=var, var_file=var_file,
                stack=stack, as_json=as_json, auto_approve=auto_approve,
                break_glass=break_glass, reason=reason, adopt=adopt)


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
    from driftless.cli import verbs

    verbs.destroy(directory=directory, env=env, var=var, var_file=var_file, stack=stack,
                  as_json=as_json, auto_approve=auto_approve, break_glass=break_glass,
                  reason=reason)


def refresh(
    directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None, var_file: VarFileOpt = None,
    stack: StackOpt = None, as_json: JsonOpt = False,
) -> None:
    """Read live state, report drift, and record it in state.

    Example: driftless refresh --stack web
    """
    from driftless.state.lease import hold_lock

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
    from driftless.state.lease import hold_lock

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
    from driftless.cli.context import project_context

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
