"""The stack language: project and stack files → ``DesiredStack`` for the planner.

Reads driftless.yaml, stacks/*/stack.yaml, environments/<env>.yaml and
overlays; resolves typed variables, overlays and ``${...}`` references;
validates properties against provider kind schemas. Never writes anything.
The language is documented for users in docs/language.md.
"""

from driftless.render.cache import RenderCache
from driftless.render.envinit import env_template
from driftless.render.job import KindLookup, RenderOptions
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
