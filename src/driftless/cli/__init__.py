"""The command line. Imports only driftless's public API and typer/rich.

Each command group lives in its own module with a ``register(app)``
function, so groups grow independently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from driftless.cli import agent_cmd, cloud_cmd, core, render_cmd, state_cmd

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
) -> None:
    """Make reality match Git: plan, apply and continuously reconcile.

    Example: driftless -C examples/quickstart plan
    """
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise typer.BadParameter(f"cannot change to {directory}: {exc.strerror}") from None


for _group in (core, render_cmd, state_cmd, agent_cmd, cloud_cmd):
    _group.register(app)


def main() -> None:
    """Entry point of the ``driftless`` script."""
    app()
