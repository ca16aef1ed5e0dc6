"""The stack language: project and stack files → ``DesiredStack`` for the planner.

Reads driftless.yaml, stacks/*/stack.yaml, environments/<env>.yaml and
overlays; resolves typed variables, overlays and ``${...}`` references;
validates properties against provider kind schemas. Never writes anything.
The language is documented for users in docs/language.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftless.render.cache import RenderCache
    from driftless.render.envinit import env_template
    from driftless.render.options import KindLookup, RenderOptions
    from driftless.render.project import (
        DEFAULT_STATE,
        PROJECT_FILE,
        Project,
        StackRef,
        find_project,
        load_project,
        stack_order,
    )
    from driftless.render.schema import language_schema
    from driftless.render.show import stack_json
    from driftless.render.stack import render_stack
    from driftless.render.validate import declared_outputs, validate_project, validate_stacks

# Each public name and the module it lives in, imported on first use: a plan
# served from the render cache never imports the evaluator, the YAML parser
# or the kind schemas.
_WHERE = {
    "RenderCache": "cache", "env_template": "envinit", "KindLookup": "options",
    "RenderOptions": "options", "DEFAULT_STATE": "project", "PROJECT_FILE": "project",
    "Project": "project", "StackRef": "project", "find_project": "project",
    "load_project": "project", "stack_order": "project", "language_schema": "schema",
    "stack_json": "show", "render_stack": "stack", "declared_outputs": "validate",
    "validate_project": "validate", "validate_stacks": "validate",
}


def __getattr__(name: str) -> Any:
    """``driftless.render.X``: imported from its module when first asked for."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_STATE",
    "KindLookup",
    "PROJECT_FILE",
    "Project",
    "RenderCache",
    "RenderOptions",
    "StackRef",
    "declared_outputs",
    "env_template",
    "find_project",
    "language_schema",
    "load_project",
    "render_stack",
    "stack_json",
    "stack_order",
    "validate_project",
    "validate_stacks",
]
