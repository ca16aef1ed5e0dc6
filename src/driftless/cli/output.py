"""Printing for the CLI: one console, errors without tracebacks, JSON output.

Colour only on a TTY and never with ``NO_COLOR``; rich decides both.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from driftless.errors import DriftlessError, Problem, RenderError

__all__ = ["console", "err_console", "fail", "guard", "print_json", "print_problems"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")


def print_json(doc: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def _snippet(problem: Problem) -> list[str]:
    if problem.file is None or problem.line is None:
        return []
    path = Path(problem.file)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    if not 0 < problem.line <= len(lines):
        return []
    num = str(problem.line)
    pad = " " * len(num)
    col = max(1, problem.column or 1)
    caret = " " * (col - 1) + "^"
    tail = f" {problem.hint}" if problem.hint else ""
    return [f" {pad} |", f" {num} | {lines[problem.line - 1]}", f" {pad} | {caret}{tail}"]


def print_problems(problems: tuple[Problem, ...] | list[Problem]) -> None:
    """Each problem as ``error: what`` / ``--> file:line:col`` / the line."""
    for p in problems:
        err_console.print(f"[bold red]error[/]: {escape(p.message)}")
        if p.file is not None:
            err_console.print(f"  --> {escape(p.where())}")
        for line in _snippet(p):
            err_console.print(escape(line))
        if p.hint and not _snippet(p):
            err_console.print(f"  hint: {escape(p.hint)}")


def fail(exc: DriftlessError, *, what_happened: str = "nothing was changed") -> NoReturn:
    """Print a user-facing error and exit 1 (never a traceback)."""
    if isinstance(exc, RenderError):
        print_problems(exc.problems)
        n = len(exc.problems)
        err_console.print(f"{n} error{'s' if n != 1 else ''}; {what_happened}.")
    else:
        err_console.print(f"[bold red]error[/]: {escape(exc.message)}")
        if exc.hint:
            err_console.print(f"       {escape(exc.hint)}")
    if os.environ.get("DRIFTLESS_DEBUG"):
        raise exc
    raise typer.Exit(1)


@contextmanager
def guard(what_happened: str = "nothing was changed") -> Iterator[None]:
    """Turn ``DriftlessError`` into a clean message and exit code 1."""
    try:
        yield
    except DriftlessError as exc:
        fail(exc, what_happened=what_happened)


def guarded(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of ``guard`` for command functions."""

    def wrapper(*args: Any, **kwargs: Any) -> T:
        with guard():
            return fn(*args, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper
