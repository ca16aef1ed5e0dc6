"""The command line. Imports only driftless's public API and typer/rich.

Each command group lives in its own module with a ``register(app)``
function, so groups grow independently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from driftless.cli import agent_cmd, cloud_cmd, core, render_cmd, scan_cmd, secrets_cmd, state_cmd
from driftless.model.policy import (
    ENV_ALLOW_READ,
    ENV_LIMIT_PREFIX,
    ENV_SECRET_COMMANDS,
    ENV_SECRET_ENV,
    ENV_SECRET_FILES,
    Policy,
    PolicyError,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="driftless",
    help="Make reality match Git: plan, apply and continuously reconcile.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

@app.callback()
def _root(
    directory: Annotated[Path | None, typer.Option(
        "-C", "--chdir", help="Run as if started in DIR (like git -C).")] = None,
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
) -> None:
    """Make reality match Git: plan, apply and continuously reconcile.

    Example: driftless -C examples/quickstart plan
    """
    _operator_policy(allow_read or [], limit or [])
    _secret_policy(secret_file_dir or [], secret_env, secret_commands)
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise typer.BadParameter(f"cannot change to {directory}: {exc.strerror}") from None


def _operator_policy(allow_read: list[Path], limits: list[str]) -> None:
    """Check --allow-read/--limit and hand them on as the environment variables that
    every project load (and any agent this process starts) reads the policy from."""
    pairs = dict(item.partition("=")[::2] for item in limits)
    try:
        Policy.from_environ(os.environ).widened(read_roots=allow_read, limits=pairs)
    except PolicyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--limit") from None
    if allow_read:
        roots = [os.environ.get(ENV_ALLOW_READ, ""), *(str(p.resolve()) for p in allow_read)]
        os.environ[ENV_ALLOW_READ] = ":".join(r for r in roots if r)
    for name, value in pairs.items():
        os.environ[ENV_LIMIT_PREFIX + name.strip().upper().replace("-", "_")] = value


def _secret_policy(dirs: list[Path], env_patterns: list[str] | None, commands: bool) -> None:
    """Hand the secret-reference flags on as DRIFTLESS_SECRET_* (see ``_operator_policy``)."""
    if dirs:
        roots = [os.environ.get(ENV_SECRET_FILES, ""), *(str(p.resolve()) for p in dirs)]
        os.environ[ENV_SECRET_FILES] = ":".join(r for r in roots if r)
    if env_patterns:
        os.environ[ENV_SECRET_ENV] = ":".join(env_patterns)
    if commands:
        os.environ[ENV_SECRET_COMMANDS] = "1"


for _group in (core, render_cmd, state_cmd, agent_cmd, cloud_cmd, scan_cmd, secrets_cmd):
    _group.register(app)


def main() -> None:
    """Entry point of the ``driftless`` script."""
    app()
