"""``driftless bootstrap`` and ``driftless state migrate``: remote state, set up and moved.

``bootstrap`` creates the S3 bucket (and DynamoDB lock table) that will hold
state, as protected resources, migrates every stack's state into it and
points driftless.yaml at it. ``state migrate`` copies state between any two
backend URLs. Both are thin: the work is in ``driftless.workflows``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftless.cli.options import DirOpt, EnvOpt, JsonOpt
from driftless.cli.output import console, guard, print_json
from driftless.cli.plain import escape
from driftless.errors import ConfigError
from driftless.render import load_project
from driftless.state import open_backend

if TYPE_CHECKING:
    from driftless.workflows import BootstrapReport, MigrationStep

__all__ = ["register", "register_state"]

BackendOpt = Annotated[str, typer.Option(
    "--backend", help="Remote state URL, e.g. s3://acme-state/infra?region=eu-west-1 "
                      "or postgres://driftless@db.internal/infra")]
LockTableOpt = Annotated[str | None, typer.Option(
    "--lock-table", help="Also create and use this DynamoDB table for locks.")]


def _describe_step(step: MigrationStep) -> str:
    return {
        "copy": f"copied (serial {step.serial})",
        "same": "already there, identical",
        "empty": "no state to copy",
    }[step.action]


def _print_bootstrap(report: BootstrapReport) -> None:
    if not report.changed:
        console.print(f"Nothing to do: {escape(report.url)} exists, every stack's state is "
                      "there and driftless.yaml points at it.")
        return
    for result in report.results:
        console.print(f"  + {escape(str(result.id))}  {result.outcome.value}  (protected)")
    for step in report.migration:
        console.print(f"  state of stack {escape(step.stack)}: {_describe_step(step)}")
    if report.config_file is not None:
        console.print(f"  {escape(report.config_file.name)}: state: {escape(report.url)}")
    console.print(f"Bootstrap complete: state now lives in {escape(report.url)}.")
    if report.previous_url != report.url:
        console.print(f"The old state at {escape(report.previous_url)} was left as it was; "
                      "keep it as a backup or delete it.")


def _bootstrap_json(report: BootstrapReport) -> dict[str, object]:
    return {
        "url": report.url, "previous_url": report.previous_url, "changed": report.changed,
        "results": [r.to_json() for r in report.results],
        "migration": [{"stack": s.stack, "action": s.action, "serial": s.serial}
                      for s in report.migration],
        "config_file": str(report.config_file) if report.config_file else None,
    }


def bootstrap_cmd(
    backend: BackendOpt, lock_table: LockTableOpt = None, directory: DirOpt = None,
    env: EnvOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create the remote state backend and move this project's state into it.

    For s3:// creates a versioned, encrypted, private S3 bucket (and with
    --lock-table a DynamoDB lock table) as protected resources; for postgres://
    creates the schema and tables. Then migrates every stack's state there and
    updates `state:` in driftless.yaml. Running it again changes nothing.

    Example: driftless bootstrap --backend s3://acme-state/infra --lock-table acme-locks
    """
    from driftless.workflows import bootstrap  # here: state commands and help need not load it

    with guard("the project's state was not moved"):
        report = bootstrap(load_project(directory), backend, lock_table=lock_table, env=env)
    if as_json:
        print_json(_bootstrap_json(report))
    else:
        _print_bootstrap(report)


def migrate_cmd(
    source: Annotated[str, typer.Argument(help="State URL to copy from.")],
    target: Annotated[str, typer.Argument(help="State URL to copy into.")],
    stack: Annotated[list[str] | None, typer.Option(
        "--stack", "-s", help="Only this stack (repeatable; default: every stack).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would be copied; copy nothing.")] = False,
    directory: DirOpt = None, as_json: JsonOpt = False,
) -> None:
    """Copy stacks' state from one backend to another, keeping each lineage.

    Both stacks' locks are held while copying. A stack already identical at
    the target is left alone; a different lineage or a newer serial there is
    refused. Relative sqlite paths are relative to -C DIR (default: the cwd).
    Does not edit driftless.yaml.

    Example: driftless state migrate sqlite:///.driftless/state.db 's3://acme-state/infra?region=eu-west-1'
    """
    root = (directory or Path.cwd()).resolve()
    with guard("the stacks listed above (if any) were copied; the rest were not"):
        steps = _migrate(source, target, root=root, stacks=stack, dry_run=dry_run)
    if as_json:
        print_json([{"stack": s.stack, "action": s.action, "serial": s.serial} for s in steps])
        return
    verb = "would copy" if dry_run else "copied"
    for step in steps:
        text = f"{verb} (serial {step.serial})" if step.action == "copy" else _describe_step(step)
        console.print(f"  {escape(step.stack)}: {text}")
    copied = sum(s.action == "copy" for s in steps)
    console.print(f"{len(steps)} stacks, {copied} {verb}.")


def _migrate(source: str, target: str, *, root: Path, stacks: list[str] | None,
             dry_run: bool) -> list[MigrationStep]:
    from driftless.workflows import plan_migration

    if source == target:
        raise ConfigError(f"source and target are the same state ({source})",
                          hint="give two different state URLs")
    src = open_backend(source, root=root)
    try:
        dst = open_backend(target, root=root)
        try:
            return plan_migration(src, dst, stacks=stacks, dry_run=dry_run)
        finally:
            dst.close()
    finally:
        src.close()


def register_state(state_app: typer.Typer) -> None:
    """Add ``migrate`` to the ``state`` group (once: the group is shared by every
    application ``driftless.cli`` builds in a process)."""
    if all(c.callback is not migrate_cmd for c in state_app.registered_commands):
        state_app.command("migrate")(migrate_cmd)


def register(app: typer.Typer) -> None:
    """Add ``bootstrap``; and ``state migrate`` when the state group exists."""
    app.command("bootstrap")(bootstrap_cmd)
    from driftless.cli import state_cmd

    state_app = getattr(state_cmd, "state_app", None)
    if isinstance(state_app, typer.Typer):
        register_state(state_app)
