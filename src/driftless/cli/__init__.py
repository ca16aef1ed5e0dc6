"""The command line. Imports only driftless's public API and typer/rich.

Each command group lives in its own module with a ``register(app)``
function, so groups grow independently. ``main`` registers only the group of
the command being run (see ``driftless.cli.application``); ``driftless --version``
answers before typer is imported at all, and so does an ordinary plan, apply
or destroy (``driftless.cli.fast``): start time is what every run of the CLI,
CI and the agent's one-shot commands pays.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    app: typer.Typer

__all__ = ["app", "main", "print_version"]


def __getattr__(name: str) -> Any:
    """``driftless.cli.app``: the application with every command, built on first use
    (the module that builds it is ``driftless.cli.application``, so this name is
    never shadowed by a submodule)."""
    if name == "app":
        from driftless.cli.application import full_app

        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def print_version() -> None:
    """``driftless --version``: the version of the installed package."""
    from driftless import __version__

    sys.stdout.write(f"driftless {__version__}\n")


def main() -> None:
    """Entry point of the ``driftless`` script. Cache writes may go to forked
    children while the command runs (``driftless.model.background``); they are
    waited for before it ends, whatever way, so the next command finds them."""
    argv = sys.argv[1:]
    if argv == ["--version"]:
        print_version()
        return
    from driftless.model.background import detaching
    from driftless.records import save_compiled

    try:
        with detaching():
            _run(argv)
    finally:
        save_compiled()  # the next command's start-up runs what this one compiled


def _run(argv: list[str]) -> None:
    from driftless.cli.fast import run

    run(argv)  # an ordinary plan, apply or destroy runs (and exits) here, without typer
    from driftless.cli.application import build_app, command_of

    build_app(command_of(argv))()
