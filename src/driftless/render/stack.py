"""Rendering one stack: the steps from stack.yaml to a ``DesiredStack``.

``render_stack`` walks a list of steps over a ``Job``; each step records
every problem it finds, and the render stops after the first step that
found any (later steps would only repeat them). I/O: reads the stack's
files through the project's cache, and DRIFTLESS_VAR_* from the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from driftless.errors import Problem, RenderError
from driftless.model import DesiredStack, Sensitive
from driftless.model.gcpause import gc_paused
from driftless.render.digest import stack_digest
from driftless.render.evaluate import Scope
from driftless.render.job import Job, KindLookup, RenderOptions, resolve_value
from driftless.render.overlay import apply_overlays
from driftless.render.project import Project
from driftless.render.resources import expand_resources, find_cycles
from driftless.render.secret_refs import SecretCache
from driftless.render.shape import STACK_SHAPE, sanitize
from driftless.render.suggest import did_you_mean
from driftless.render.targets import LOCAL, Host, hosts_of, is_multi
from driftless.render.values import gather_sources
from driftless.render.variables import parse_declarations, resolve_variables
from driftless.render.yamlio import LocDict, key_where, problem_at, where

__all__ = ["render_stack"]

_STACK_KEYS = ("description", "variables", "resources", "outputs", "depends_on", "settings",
               "secrets", "select", "target")


def render_stack(project: Project, name: str, options: RenderOptions, *,
                 stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
                 kinds: KindLookup | None = None) -> DesiredStack:
    """The desired state of stack ``name``; ``RenderError`` lists every problem."""
    if name not in project.stacks:
        raise RenderError([Problem(f"unknown stack '{name}'",
                                   hint=did_you_mean(name, project.stacks))])
    # ~10 new objects for each resource, nearly all kept: the collector's generation
    # scans (and a full one) would cost ~5-12 ms of a 10,000-resource render
    with gc_paused():
        return _render(project, name, options, stack_outputs, kinds)


def _render(project: Project, name: str, options: RenderOptions,
            stack_outputs: Mapping[str, Mapping[str, Any]] | None,
            kinds: KindLookup | None) -> DesiredStack:
    job = Job(project, name, options, stack_outputs or {}, kinds)
    for step in (_layers, _variables, _per_host, _cycles):
        step(job)
        job.fail_if_problems()
    if job.notes:
        raise RenderError(job.notes)
    ref = project.stacks[name]
    settings = dict(job.layered.settings)
    # worked out on first use (``DesiredStack.digest``): the render cache's child
    # works it out on the other core meanwhile
    digest = partial(stack_digest, name, job.resources, job.outputs, ref.depends_on,
                     settings, job.bindings)
    return DesiredStack(name, tuple(job.resources), digest, job.outputs, options.revision,
                        ref.depends_on, settings, validated=job.kinds is not None)


def _layers(job: Job) -> None:
    """Check stack.yaml's shape and apply the environment's overlays."""
    doc = sanitize(job.project.load_stack_doc(job.name), STACK_SHAPE, job.problems)
    if not isinstance(doc, Mapping):
        job.problems.append(Problem("stack.yaml must be a map with variables: and resources:",
                                    job.project.rel(job.project.stack_file(job.name)), 1, 1))
        return
    job.doc = doc
    for key in doc:
        if key not in _STACK_KEYS:
            job.problems.append(problem_at(f"unknown key '{key}' in stack.yaml",
                                           key_where(doc, key),
                                           hint=did_you_mean(key, _STACK_KEYS)))
    env = job.options.env
    if env is not None and job.project.environments and env not in job.project.environments:
        job.problems.append(Problem(
            f"unknown environment '{env}'", "driftless.yaml",
            hint=did_you_mean(env, job.project.environments)
            or f"environments: {', '.join(job.project.environments)}"))
        return
    job.layered = apply_overlays(job.project, job.name, doc, env, job.problems)


def _variables(job: Job) -> None:
    """Every variable's final value, by precedence; all missing ones reported together."""
    decls = parse_declarations(job.doc.get("variables"), job.problems)
    sources = gather_sources(job.project, job.name, job.options, job.layered, job.notes)
    env = job.options.env
    hint = f"in environments/{env}.yaml" if env else "in a --var-file"
    values = resolve_variables(decls, sources, where_hint=hint, problems=job.problems)
    job.scope = Scope(variables=values, stack_outputs=job.stack_outputs,
                      base_dir=job.project.stacks[job.name].path, root=job.project.root,
                      policy=job.project.policy, node=_fleet_node(job.options.environment()),
                      secrets=SecretCache(on_missing=job.options.on_missing_secret))


def _fleet_node(environ: Mapping[str, str]) -> Mapping[str, Any] | None:
    """``${node.*}``: the fleet node an agent in fleet mode renders for (the operator's
    agent sets ``DRIFTLESS_FLEET_NODE`` to JSON: name, address, tags, peers); else None,
    and ``node`` names a resource as before."""
    raw = environ.get("DRIFTLESS_FLEET_NODE")
    return None if raw is None else dict(json.loads(raw))


def _per_host(job: Job) -> None:
    """Resources and outputs: once, or once per host of a group or list ``target:``
    (``render/targets``), each copy's names suffixed ``.<host>``."""
    raw = job.doc.get("target")
    loc = where(job.doc, "target")
    value = resolve_value(job, raw, job.scope, loc) if raw is not None else None
    inventory = job.project.inventory
    hosts = hosts_of(value, inventory, loc, job.problems)
    if not is_multi(value, inventory):
        host = hosts[0] if hosts else LOCAL
        job.scope = replace(job.scope, host=None if host.local and raw is None else host.scope())
        expand_resources(job)
        _outputs(job)
        return
    for host in hosts:
        _render_for(job, host)
    job.resources.sort(key=lambda r: r.id)


def _render_for(job: Job, host: Host) -> None:
    """One host's copy of the stack, added to ``job``."""
    layered = job.layered
    names = {n: f"{layered.names.get(n, n)}.{host.name}" for n in layered.resources}
    one = replace(job, layered=replace(layered, names=names), resources=[], outputs={},
                  table={}, bindings={}, scope=replace(job.scope, host=host.scope()))
    expand_resources(one)
    _outputs(one)
    job.resources.extend(one.resources)
    job.bindings.update(one.bindings)
    job.table.update({f"{n}.{host.name}": info for n, info in one.table.items()})
    for key, value in one.outputs.items():
        job.outputs.setdefault(key, {})[host.name] = value


def _outputs(job: Job) -> None:
    """Outputs: plain values or ``{value, sensitive, description}``."""
    outputs = job.layered.outputs
    scope = _output_scope(job)
    for name, raw in outputs.items():
        structured = isinstance(raw, Mapping) and "value" in raw
        body: Mapping[str, Any] = raw if structured else {"value": raw}
        loc = where(body, "value") if isinstance(body, LocDict) else where(outputs, name)
        value = resolve_value(job, body["value"], scope, loc)
        if body.get("sensitive") and not isinstance(value, Sensitive):
            value = Sensitive(value)
        job.outputs[name] = value


def _output_scope(job: Job) -> Scope:
    return replace(job.scope, resources=job.table)


def _cycles(job: Job) -> None:
    """Resources that depend on each other in a circle."""
    job.problems.extend(find_cycles(job.resources))
