"""Resources of one stack: repetition, addresses, references, dependencies.

``expand_resources`` turns each YAML resource into its instances (``count``
gives ``name[0]``..., ``for_each`` gives ``name["key"]``...), evaluates their
properties, derives ``depends_on`` from explicit names and from references,
and validates properties against the kind's schema. Pure apart from the
evaluator's file functions and ``read_fields`` (plan-time file paths,
confined to the project).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from driftless.errors import Problem
from driftless.model import Deferred, Resource, ResourceId, Sensitive
from driftless.model.policy import limit_hint
from driftless.render.compiled import Plainness
from driftless.render.evaluate import ResInfo
from driftless.render.instances import Decl, Instances, build_one
from driftless.render.job import Job, parse_type, resolve_value
from driftless.render.project import NAME
from driftless.render.spell import spell
from driftless.render.suggest import did_you_mean
from driftless.render.targets import hosts_of
from driftless.render.yamlio import Loc, key_where, problem_at, where

__all__ = ["expand_resources", "find_cycles", "reference_table"]

# A logical name is also a reference root (``${web.path}``), so it may not hold dots.
_LOGICAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_NAME_HINT = ("resource names use letters, digits, '_' and '-', and start with a letter or '_' "
              "(name_prefix/name_suffix may add '.')")
_KEYS = ("type", "properties", "depends_on", "protect", "count", "for_each", "triggered_by",
         "description", "target")


def expand_resources(job: Job) -> None:
    """Fill ``job.resources`` (sorted by address) and ``job.table``; what the
    instances of one resource share is prepared once (``instances``)."""
    known: set[tuple[str, str]] = set()  # kinds found to exist: asked once, not per resource
    decls = [d for d in (_declare(job, n, b, known) for n, b in job.layered.resources.items())
             if d]
    job.table = reference_table(job, decls)
    _duplicates(job, decls)
    if not _within_resource_limit(job, decls):
        return
    scope = replace(job.scope, resources=job.table)
    plainness = Plainness()
    for decl in decls:
        if len(decl.instances) > 1:
            job.resources.extend(Instances(job, decl, scope, plainness).build(decl.instances))
        elif decl.instances:
            index, each = decl.instances[0]
            job.resources.append(build_one(job, decl, index, each, scope))
    job.resources.sort(key=lambda r: r.id)


def _within_resource_limit(job: Job, decls: list[Decl]) -> bool:
    """Refuse a stack whose instances add up past ``resources`` before evaluating any."""
    total = sum(len(d.instances) for d in decls)
    limit = job.project.policy.limits.resources
    if total <= limit:
        return True
    job.problems.append(Problem(
        f"stack '{job.name}' has {total} resources, over the limit of {limit} (resources)",
        job.project.rel(job.project.stack_file(job.name)), 1, 1, hint=limit_hint("resources")))
    return False


def reference_table(job: Job, decls: list[Decl] | None = None) -> dict[str, ResInfo]:
    """Logical name → ids by index, as references see resources."""
    if decls is None:
        return job.table
    table = {}
    for d in decls:
        final = job.layered.names.get(d.name, d.name)
        ids = {i: ResourceId(d.provider, d.kind, final, i) for i, _ in d.instances}
        table[d.name] = ResInfo(ids, d.mode)
    return table


def _declare(job: Job, name: str, body: Any, known: set[tuple[str, str]]) -> Decl | None:
    loc = job.layered.added_by.get(name)
    if not _good_name(job, name, loc):
        return None
    if not isinstance(body, Mapping):
        job.problems.append(problem_at(f"resource '{name}' must be a map with type: and "
                                       "properties:", loc))
        return None
    for key in body:
        if key not in _KEYS:
            job.problems.append(problem_at(f"resource '{name}': unknown key '{key}'",
                                           key_where(body, key), hint=did_you_mean(key, _KEYS)))
    parsed = parse_type(body.get("type"))
    if parsed is None:
        job.problems.append(problem_at(
            f"resource '{name}': type must be provider:kind, e.g. local:file or aws:s3.Bucket",
            where(body, "type") if "type" in body else loc))
        return None
    ssh_target = _ssh_target(job, name, body, parsed[0])
    if ssh_target is not None:
        parsed = ("ssh", parsed[1])
    if parsed not in known and _check_kind(job, name, parsed, where(body, "type")):
        known.add(parsed)
    mode, instances = _repeat(job, name, body)
    return Decl(name, body, loc, parsed[0], parsed[1], mode, instances, ssh_target)


def _ssh_target(job: Job, name: str, body: Mapping[str, Any], provider: str) -> str | None:
    """The ssh:// URL a ``local:`` resource runs on (its own ``target:``, else its
    stack's), or None for this machine (``render/targets``)."""
    host = job.scope.host
    if "target" in body:
        loc = where(body, "target")
        if provider != "local":
            job.problems.append(problem_at(
                f"resource '{name}': target: applies to local: kinds only", loc))
            return None
        value = resolve_value(job, body["target"], job.scope, loc)
        hosts = hosts_of(value, job.project.inventory, loc, job.problems)
        if len(hosts) != 1 or isinstance(value, list):
            if hosts:
                job.problems.append(problem_at(
                    f"resource '{name}': target names {len(hosts)} hosts; a resource runs on "
                    "one (give the stack a group target to repeat it per host)", loc))
            return None
        target = hosts[0].target
    else:
        target = str(host["target"]) if host is not None else "local"
    return None if provider != "local" or target == "local" else target


def _good_name(job: Job, name: str, loc: Loc | None) -> bool:
    """Names become addresses, state keys and reference roots: one pattern for all."""
    final = job.layered.names.get(name, name)
    if _LOGICAL_NAME.match(name) and NAME.match(final):
        return True
    shown = name if final == name else f"{name}' (named '{final}' after prefixing)"
    job.problems.append(problem_at(f"'{shown}' is not a valid resource name", loc,
                                   hint=_NAME_HINT))
    return False


def _check_kind(job: Job, name: str, parsed: tuple[str, str], loc: Loc | None) -> bool:
    """Report an unknown kind of an installed provider (the lookup may offer
    ``kind_names``); True when the kind is not unknown."""
    names_of = getattr(job.kinds, "kind_names", None)
    names = names_of(parsed[0]) if callable(names_of) else None
    if names is not None and parsed[1] not in names:
        job.problems.append(problem_at(
            f"resource '{name}': provider '{parsed[0]}' has no kind '{parsed[1]}'", loc,
            hint=did_you_mean(parsed[1], names) or f"kinds: {', '.join(sorted(names))}"))
        return False
    return True


def _repeat(job: Job, name: str, body: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    if "count" in body and "for_each" in body:
        job.problems.append(problem_at(f"resource '{name}': use count or for_each, not both",
                                       where(body, "for_each")))
        return "", ()
    for key in ("count", "for_each"):
        if key in body:
            value = resolve_value(job, body[key], job.scope, where(body, key))
            return key, _expand(job, name, key, value, where(body, key))
    return "", ((None, None),)


def _expand(job: Job, name: str, key: str, value: Any, loc: Loc | None) -> tuple[Any, ...]:
    if isinstance(value, Deferred | Sensitive):
        why = "is only known after apply" if isinstance(value, Deferred) else "is sensitive"
        job.problems.append(problem_at(f"resource '{name}': {key} {why}; it must be known "
                                       "when rendering (use variables)", loc))
        return ()
    if value is None:  # its expression failed and was reported
        return ()
    if key == "count":
        return _count(job, name, value, loc)
    return _for_each(job, name, value, loc)


def _count(job: Job, name: str, value: Any, loc: Loc | None) -> tuple[Any, ...]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        job.problems.append(problem_at(f"resource '{name}': count must be a whole number >= 0, "
                                       f"got {spell(value)}", loc))
        return ()
    if not _within_instances(job, name, "count", value, loc):
        return ()
    return tuple((i, None) for i in range(value))


def _for_each(job: Job, name: str, value: Any, loc: Loc | None) -> tuple[Any, ...]:
    if isinstance(value, Mapping):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [(str(v), str(v)) for v in value]  # plain str: keys end up in addresses
    else:
        job.problems.append(problem_at(f"resource '{name}': for_each must be a map or a list "
                                       "of strings", loc))
        return ()
    if not _within_instances(job, name, "for_each", len(items), loc):
        return ()
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        job.problems.append(problem_at(
            f"resource '{name}': for_each lists {', '.join(spell(d) for d in dupes[:5])} "
            "more than once", loc, hint="each instance needs its own key: remove the repeats"))
        return ()
    return tuple(sorted(items, key=lambda kv: kv[0]))


def _within_instances(job: Job, name: str, key: str, n: int, loc: Loc | None) -> bool:
    limit = job.project.policy.limits.instances
    if n <= limit:
        return True
    job.problems.append(problem_at(
        f"resource '{name}': {key} asks for {n} instances, over the limit of {limit} "
        "(instances)", loc, hint=limit_hint("instances")))
    return False


def _duplicates(job: Job, decls: list[Decl]) -> None:
    seen: dict[tuple[str, str, str], Decl] = {}
    for d in decls:
        final = job.layered.names.get(d.name, d.name)
        key = (d.provider, d.kind, final)
        if key in seen:
            other = seen[key]
            job.problems.append(problem_at(
                f"duplicate resource {d.provider}:{d.kind}/{final}: '{d.name}' and "
                f"'{other.name}' have the same name after prefixing", d.loc,
                hint="rename one of them or change name_prefix/name_suffix"))
        seen[key] = d


def find_cycles(resources: list[Resource]) -> list[Problem]:
    """A problem for each dependency cycle among ``resources``."""
    by_id = {r.id: r for r in resources}
    state: dict[ResourceId, int] = {}
    problems: list[Problem] = []
    for start, r in by_id.items():
        if start in state:
            continue
        if r.depends_on:
            _dfs(start, by_id, state, [], problems)
        else:  # nothing to follow: done, as the walk would find it
            state[start] = 2
    return problems


def _dfs(node: ResourceId, by_id: Mapping[ResourceId, Resource], state: dict[ResourceId, int],
         path: list[ResourceId], problems: list[Problem]) -> None:
    stack: list[tuple[ResourceId, int]] = [(node, 0)]
    state[node] = 1
    path.append(node)
    while stack:
        current, i = stack[-1]
        deps = by_id[current].depends_on if current in by_id else ()
        if i >= len(deps):
            stack.pop()
            path.pop()
            state[current] = 2
            continue
        stack[-1] = (current, i + 1)
        dep = deps[i]
        if state.get(dep) == 1:
            cycle = [*path[path.index(dep):], dep]
            src = by_id[dep].source
            problems.append(Problem(
                "dependency cycle: " + " -> ".join(str(c) for c in cycle),
                src.file if src else None, src.line if src else None,
                src.column if src else None,
                hint="remove a reference or depends_on so one of them can be applied first"))
        elif dep in by_id and dep not in state:
            state[dep] = 1
            path.append(dep)
            stack.append((dep, 0))
