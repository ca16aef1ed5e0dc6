"""Checks a rendered stack must pass before anything is read or planned.

Collects every problem (unknown kinds, schema errors, dangling dependencies,
cycles) so the user fixes them in one go; a provider that is not installed
is a single clear ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from graphlib import CycleError

from driftless.errors import Problem, RenderError
from driftless.model import (
    DesiredStack,
    Graph,
    Resource,
    ResourceId,
    ResourceState,
    deferred_refs,
)
from driftless.model.values import plain_dict
from driftless.providers import ProviderSet, comparable, schema_problems
from driftless.providers.compact import same_inputs

__all__ = ["Checked", "all_dependencies", "check_stack"]

Checked = tuple[dict[ResourceId, tuple[ResourceId, ...]], list[ResourceId]]


def all_dependencies(resource: Resource) -> tuple[ResourceId, ...]:
    """Explicit, trigger and reference dependencies, deduplicated and sorted."""
    if not resource.depends_on and not resource.triggered_by and plain_dict(
            resource.properties):
        return ()  # the common case, asked per resource per plan: nothing to walk
    deps = {*resource.depends_on, *resource.triggered_by, *deferred_refs(resource.properties)}
    deps.discard(resource.id)
    return tuple(sorted(deps))


def check_stack(
    desired: DesiredStack, providers: ProviderSet,
    applied: Mapping[ResourceId, ResourceState] | None = None,
    settled: Container[ResourceId] = (),
) -> Checked:
    """Every resource's dependencies and the dependency order, once all checks pass.

    Raises ``RenderError`` with every problem, or ``ConfigError`` for a
    provider that is not installed. A resource whose properties equal the
    inputs it was last applied with passed validation then; it is not
    validated again (schema validation dominates a large no-op plan), nor is a
    ``settled`` one (the clean-plan memo found these very properties valid), nor
    any of a stack the render already validated (``DesiredStack.validated``).
    """
    providers.require(r.id.provider for r in desired.resources)
    problems = [*_duplicates(desired.resources)]
    applied = applied or {}
    known: set[tuple[str, str]] = set()  # (provider, kind) seen to exist
    for res in desired.resources:
        if desired.validated or res.id in settled or _unchanged(res, applied.get(res.id)):
            if (res.id.provider, res.id.kind) not in known:
                found = _unknown_kind(res, providers)  # a kind render could not see
                problems.extend(found)
                if not found:
                    known.add((res.id.provider, res.id.kind))
        else:
            problems.extend(_resource_problems(res, providers))
    deps = {r.id: all_dependencies(r) for r in desired.resources}
    dep_problems, order = _dependency_problems(desired.resources, deps)
    problems.extend(dep_problems)
    if problems:
        raise RenderError(problems)
    return deps, order


def _problem(res: Resource, message: str, hint: str | None = None) -> Problem:
    src = res.source
    return Problem(
        f"{res.id}: {message}",
        file=src.file if src else None,
        line=src.line if src else None,
        column=src.column if src else None,
        hint=hint,
    )


def _unchanged(res: Resource, st: ResourceState | None) -> bool:
    if st is None or not st.inputs:
        return False
    # plain values compare directly (in C); secrets only through their digests,
    # long values only through their markers (compacting only when `==` fails)
    return res.properties == st.inputs or same_inputs(comparable(dict(res.properties)),
                                                      st.inputs)


def _duplicates(resources: Iterable[Resource]) -> list[Problem]:
    seen: set[ResourceId] = set()
    out = []
    for res in resources:
        if res.id in seen:
            out.append(_problem(res, "declared twice", "give each resource a unique name"))
        seen.add(res.id)
    return out


def _unknown_kind(res: Resource, providers: ProviderSet) -> list[Problem]:
    """The one problem of a resource whose kind its provider does not have."""
    if res.id.kind in providers.get(res.id.provider).kinds():
        return []
    return _resource_problems(res, providers)


def _resource_problems(res: Resource, providers: ProviderSet) -> list[Problem]:
    kinds = providers.get(res.id.provider).kinds()
    spec = kinds.get(res.id.kind)
    if spec is None:
        import difflib  # a mistake's hint only

        close = difflib.get_close_matches(res.id.kind, list(kinds), n=1)
        hint = f"did you mean '{res.id.provider}:{close[0]}'?" if close else (
            f"kinds of '{res.id.provider}': {', '.join(sorted(kinds))}")
        return [_problem(res, f"unknown kind '{res.id.type}'", hint)]
    return [_problem(res, msg) for msg in schema_problems(spec, res.properties)]


def _dependency_problems(
    resources: tuple[Resource, ...], deps: dict[ResourceId, tuple[ResourceId, ...]],
) -> tuple[list[Problem], list[ResourceId]]:
    out: list[Problem] = []
    for res in resources if any(deps.values()) else ():  # none: nothing undeclared
        out.extend(_problem(res, f"depends on '{d}', which is not declared")
                   for d in deps[res.id] if d not in deps)
    try:
        return out, Graph(deps).order()
    except CycleError as exc:
        cycle = list(exc.args[1])
        first = next(r for r in resources if r.id == cycle[0])
        path = " -> ".join(str(c) for c in cycle)
        out.append(_problem(first, f"dependency cycle: {path}",
                            "remove one depends_on or reference to break the cycle"))
        return out, []
