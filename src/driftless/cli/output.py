"""Printing for the CLI: one console, errors without tracebacks, JSON output.

Colour only on a TTY and never with ``NO_COLOR``; rich decides both, and is
imported only when it has something to decide (see ``driftless.cli.plain``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from driftless.cli.plain import Out, escape
from driftless.errors import DriftlessError, Problem, RenderError

__all__ = ["console", "err_console", "fail", "guard", "print_json", "print_problems"]

console = Out()
err_console = Out(stderr=True)

T = TypeVar("T")


def print_json(doc: Any) -> None:
    """Machine-readable output: plain JSON on stdout, no colour."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


_SNIPPET_FILE_MAX = 16 * 1024 * 1024  # quoting a line never reads more than this
_SNIPPET_WIDTH = 160  # columns of a quoted line shown around the problem


def _snippet(problem: Problem, files: dict[str, list[str]]) -> list[str]:
    """The offending line with a caret under the column; long lines are cut to a
    window around it, so a hostile one-line file cannot flood the terminal."""
    if problem.file is None or problem.line is None:
        return []
    lines = files.get(problem.file)
    if lines is None:
        lines = files[problem.file] = _read_lines(Path(problem.file))
    if not 0 < problem.line <= len(lines):
        return []
    text, col = _window(lines[problem.line - 1], max(1, problem.column or 1))
    num = str(problem.line)
    pad = " " * len(num)
    tail = f" {problem.hint}" if problem.hint else ""
    return [f" {pad} |", f" {num} | {text}", f" {pad} | {' ' * (col - 1)}^{tail}"]


def _read_lines(path: Path) -> list[str]:
    try:
        with path.open("rb") as fh:
            data = fh.read(_SNIPPET_FILE_MAX)
    except (OSError, ValueError):
        return []
    return data.decode(errors="replace").splitlines()


def _window(line: str, col: int) -> tuple[str, int]:
    """At most ``_SNIPPET_WIDTH`` characters of ``line`` around ``col`` (and the new col)."""
    if len(line) <= _SNIPPET_WIDTH:
        return line, col
    start = max(0, min(col - 1 - _SNIPPET_WIDTH // 2, len(line) - _SNIPPET_WIDTH))
    cut = line[start:start + _SNIPPET_WIDTH]
    prefix = "..." if start else ""
    suffix = "..." if start + _SNIPPET_WIDTH < len(line) else ""
    return prefix + cut + suffix, col - start + len(prefix)


def print_problems(problems: tuple[Problem, ...] | list[Problem]) -> None:
    """Each problem as ``error: what`` / ``--> file:line:col`` / the line."""
    files: dict[str, list[str]] = {}
    for p in problems:
        err_console.print(f"[bold red]error[/]: {escape(p.message)}")
        if p.file is not None:
            err_console.print(f"  --> {escape(p.where())}")
        snippet = _snippet(p, files)
        for line in snippet:
            err_console.print(escape(line))
        if p.hint and not snippet:
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
    raise SystemExit(1)  # what typer does with its Exit(1); the fast path has no typer


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
