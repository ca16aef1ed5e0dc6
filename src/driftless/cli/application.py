"""The typer application: the root options and every command group.

``driftless.cli.main`` builds it with only the group that defines the command
being run (a plan does not import the agent, the workflows or the SOPS
command line); ``--help``, no command or an unknown one get every group, so
help and "no such command" read as before. ``GROUPS`` names which module
registers each top-level command; a test keeps it complete.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Annotated

import typer

from driftless.cli.root import RootOptionError, use_root_options

__all__ = ["GROUPS", "MODULES", "build_app", "command_of", "full_app"]

MODULES = ("init_cmd", "core", "render_cmd", "state_cmd", "agent_cmd", "cloud_cmd", "scan_cmd",
           "secrets_cmd", "ci_cmd", "fleet_cmd", "images_cmd")
"""Every command group module, in the order their commands are listed in help."""

GROUPS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("plan", "apply", "destroy", "refresh", "import", "output"), ("core",)),
    **dict.fromkeys(("validate", "render", "schema", "env"), ("render_cmd",)),
    # cloud_cmd adds ``state migrate`` to the state group
    "state": ("state_cmd", "cloud_cmd"),
    **dict.fromkeys(("agent", "status", "history", "rollback", "unpin", "suspend", "resume",
                     "reconcile"), ("agent_cmd",)),
    "bootstrap": ("cloud_cmd",),
    "scan": ("scan_cmd",),
    "secrets": ("secrets_cmd",),
    "init": ("init_cmd",),
    "ci": ("ci_cmd",),
    "fleet": ("fleet_cmd",),
    "images": ("images_cmd",),
}
"""Top-level command -> the modules whose ``register`` must run for it."""

_VALUE_OPTIONS = frozenset({"-C", "--directory", "--allow-read", "--limit", "--allow-secret-files",
                            "--secret-env"})
"""Root options that take the next argument as their value."""


def command_of(argv: Sequence[str]) -> str | None:
    """The top-level command in ``argv`` (the first argument that is not a root
    option or its value), or None."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _version(value: bool) -> None:
    if value:
        from driftless.cli import print_version

        print_version()
        raise typer.Exit()


def build_app(command: str | None = None) -> typer.Typer:
    """A new application with the groups ``command`` needs (every group when the
    command is None or not one of ``GROUPS``)."""
    app = _new_app()
    for module in GROUPS.get(command or "", MODULES):
        importlib.import_module(f"driftless.cli.{module}").register(app)
    return app


@cache
def full_app() -> typer.Typer:
    """The application with every command (``driftless.cli.application``; built once)."""
    return build_app()


def _new_app() -> typer.Typer:
    from driftless.cli.help_style import install

    install()
    app = typer.Typer(
        name="driftless",
        help="Make reality match Git: plan, apply and continuously reconcile.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    app.callback()(_root)
    return app


def _root(
    directory: Annotated[Path | None, typer.Option(
        "-C", "--directory", metavar="DIR",
        help="Run as if started in DIR (like git -C).")] = None,
    allow_read: Annotated[list[Path] | None, typer.Option(
        "--allow-read", metavar="DIR",
        help="Let the project read files under DIR too (repeatable; the repository "
             "itself can never widen what it may read).")] = None,
    limit: Annotated[list[str] | None, typer.Option(
        "--limit", metavar="NAME=N",
        help="Raise or lower a render limit, e.g. --limit instances=50000 "
             "(see docs/security.md for the names and defaults).")] = None,
    secret_file_dir: Annotated[list[Path] | None, typer.Option(
        "--allow-secret-files", metavar="DIR",
        help="Let ${secret.file:...} references read files under DIR (repeatable).")] = None,
    secret_env: Annotated[list[str] | None, typer.Option(
        "--secret-env", metavar="PATTERN",
        help="Only these environment variables (glob, repeatable) may be read by "
             "${secret.env:...}; default: any.")] = None,
    secret_commands: Annotated[bool, typer.Option(
        "--allow-secret-commands",
        help="Let ${secret.cmd:...} references run their command.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version,
        help="Print driftless's version and exit.")] = False,
) -> None:
    """Make reality match Git: plan, apply and continuously reconcile.

    Example: driftless -C examples/quickstart plan
    """
    try:
        use_root_options(directory=directory, allow_read=allow_read or [], limits=limit or [],
                         secret_file_dirs=secret_file_dir or [], secret_env=secret_env,
                         secret_commands=secret_commands)
    except RootOptionError as exc:
        raise typer.BadParameter(exc.message, param_hint=exc.param_hint) from None
