"""Warnings about secrets not given, for ``validate``, ``render --no-secrets`` and
``plan --no-secrets`` (see ``driftless.cli.render_cmd``). Prints to stderr."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from driftless.cli.output import err_console
from driftless.cli.plain import escape
from driftless.errors import Problem
from driftless.render import RenderOptions

__all__ = ["SecretWarnings", "cwd_relative", "problem_json"]


class SecretWarnings:
    """Warnings about secrets not given, each once (a stack renders more than once)."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def __call__(self, problem: Problem) -> None:
        if problem not in self.found:
            self.found.append(problem)

    def optional(self, options: RenderOptions) -> RenderOptions:
        """``options`` with secrets optional, reporting to this collector."""
        return replace(options, on_missing_secret=self)

    def relative(self, root: Path) -> list[Problem]:
        """The warnings with paths relative to the cwd."""
        return [cwd_relative(p, root) for p in self.found]

    def to_json(self, root: Path) -> list[dict[str, Any]]:
        """The warnings as ``--json`` shows problems."""
        return [problem_json(p) for p in self.relative(root)]

    def print(self, root: Path) -> None:
        """Each warning as ``warning: what`` / ``--> file:line:col`` on stderr."""
        for p in self.relative(root):
            err_console.print(f"[bold yellow]warning[/]: {escape(p.message)}", emoji=False)
            if p.file is not None:
                err_console.print(f"  --> {escape(p.where())}", emoji=False)


def problem_json(p: Problem) -> dict[str, Any]:
    """A problem as ``--json`` output shows it."""
    return {"message": p.message, "file": p.file, "line": p.line, "column": p.column,
            "hint": p.hint}


def cwd_relative(problem: Problem, root: Path) -> Problem:
    """``problem`` with its file relative to the cwd, when it is a file under ``root``."""
    if problem.file and (root / problem.file).is_file():
        return replace(problem, file=os.path.relpath(root / problem.file))
    return problem
