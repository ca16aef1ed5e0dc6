"""The command line. Imports only driftless's public API and typer/rich.

Each command group lives in its own module with a ``register(app)``
function, so groups grow independently. ``main`` registers only the group of
the command being run (see ``driftless.cli.application``); ``driftless --version``
answers before typer is imported at all, and so does an ordinary plan, apply
or destroy (``driftless.cli.fast``): start time is what every run of the CLI,
CI and the agent's one-shot commands pays.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import typer

    app: typer.Typer

__all__ = ["app", "main", "print_version", "script"]


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


def script() -> NoReturn:
    """The ``driftless`` executable (and ``python -m driftless``): ``main``, then the
    end of the process.

    After a one-shot command (an ordinary plan, apply or destroy) with no other
    thread left, the process ends without the interpreter's teardown: the output
    is flushed and the exit handlers run, as at any exit, but the heap is not
    freed object by object; the kernel takes it back whole. That teardown, and
    the frees the command put off (``gcpause.outlive``), were ~20 ms of a quiet
    machine's 10,000-file apply. ``main`` itself exits as always, for a caller
    that goes on afterwards (tests, the hostile-repository runner).
    """
    try:
        main()
    except SystemExit as exc:
        if not isinstance(exc.code, int | None):
            raise  # a message to print instead of a code: the interpreter's own way
        _end(exc.code or 0)
    _end(0)


def _end(code: int) -> NoReturn:
    """Leave with ``code``; at once when nothing but the heap is left to release."""
    gcpause = sys.modules.get("driftless.model.gcpause")  # not imported by ``--version``
    if gcpause is None or not gcpause.one_shot_ran():
        sys.exit(code)  # a command not audited for this
    import threading

    if threading.active_count() > 1:
        sys.exit(code)  # a thread to join first
    import atexit

    atexit._run_exitfuncs()  # in the interpreter's order: exit handlers, then the flush
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # a failed flush is reported the interpreter's way
    os._exit(code)


def _run(argv: list[str]) -> None:
    from driftless.cli.fast import run

    run(argv)  # an ordinary plan, apply or destroy runs (and exits) here, without typer
    from driftless.cli.application import build_app, command_of

    build_app(command_of(argv))()
