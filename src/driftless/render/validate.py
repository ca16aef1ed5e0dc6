"""``validate_project``: every problem of every stack, in one run.

Stacks render in dependency order; outputs of other stacks are not known
while validating, so references to them evaluate to ``UNKNOWN`` when the
output is declared and are still errors when it is not. I/O: reads files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from driftless.errors import Problem, RenderError
from driftless.model import UNKNOWN, DesiredStack
from driftless.render.job import KindLookup, RenderOptions
from driftless.render.project import Project, stack_order
from driftless.render.stack import render_stack

__all__ = ["declared_outputs", "validate_project", "validate_stacks"]


def validate_project(project: Project, options: RenderOptions, *,
                     kinds: KindLookup | None = None) -> list[Problem]:
    """Every problem in every stack (empty when the project is valid)."""
    return validate_stacks(project, options, kinds=kinds)[0]


def validate_stacks(project: Project, options: RenderOptions, *,
                    kinds: KindLookup | None = None, selected: Sequence[str] | None = None,
                    ) -> tuple[list[Problem], dict[str, DesiredStack]]:
    """Every problem, and the stacks that rendered (other stacks' outputs unknown).

    ``selected`` limits the check to those stacks and their dependencies.
    """
    problems: list[Problem] = []
    outputs: dict[str, Mapping[str, Any]] = {}
    rendered: dict[str, DesiredStack] = {}
    try:
        order = stack_order(project, selected)
    except RenderError as exc:
        return list(exc.problems), rendered
    for name in order:
        try:
            rendered[name] = render_stack(project, name, options, stack_outputs=outputs,
                                          kinds=kinds)
            outputs[name] = dict.fromkeys(rendered[name].outputs, UNKNOWN)
        except RenderError as exc:
            problems.extend(p for p in exc.problems if p not in problems)
            outputs[name] = dict.fromkeys(declared_outputs(project, name), UNKNOWN)
    return problems, rendered


def declared_outputs(project: Project, name: str) -> list[str]:
    """The output names stack ``name`` declares (before any overlay), for stand-ins."""
    doc = project.load_stack_doc(name)
    raw = doc.get("outputs") if isinstance(doc, Mapping) else None
    return list(raw) if isinstance(raw, Mapping) else []
