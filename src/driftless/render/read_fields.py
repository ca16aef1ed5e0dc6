"""Files a kind reads at plan time (its ``read_fields``, such as ``source:``).

A repository is untrusted, so each such path is made absolute from the stack
directory and confined to the project (or a root the operator allowed)
after resolving symlinks, before any provider sees it; ``file://`` URLs are
confined the same way, other URLs pass through. Problems go to the job at
the property's location. I/O: resolves paths (``stat``), reads no file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from driftless.errors import Problem, RenderError
from driftless.model import Deferred, ResourceId, contains_sensitive, contains_unknown
from driftless.render.inputs import is_file
from driftless.render.job import Job
from driftless.render.project import confine
from driftless.render.yamlio import Loc, problem_at, where

__all__ = ["raw_props", "read_fields"]


def read_fields(job: Job, rid: ResourceId, props: Mapping[str, Any],
                loc: Loc | None) -> Mapping[str, Any]:
    """Files a kind reads at plan time (``source:``), made absolute from the stack
    directory and confined to the project, so a provider never reads elsewhere."""
    spec = job.kinds(rid.provider, rid.kind) if job.kinds is not None else None
    fields: frozenset[str] = getattr(spec, "read_fields", frozenset())
    out = dict(props)
    for key in sorted(fields & props.keys()):
        at = where(raw_props(job, rid), key) or loc
        resolved = _confined_file(job, rid, key, props[key], at)
        if resolved is not None:
            out[key] = resolved
    return out


def _confined_file(job: Job, rid: ResourceId, key: str, value: Any,
                   at: Loc | None) -> str | None:
    if not isinstance(value, str):
        _bad_read_field(job, rid, key, value, at)
        return None
    scheme, sep, rest = value.partition("://")
    if sep and scheme.isalpha():  # a URL: only file:// names a local file
        if scheme.lower() != "file":
            return value
        path = _confined_path(job, rid, key, unquote(rest), at)
        return None if path is None else "file://" + quote(path)
    return _confined_path(job, rid, key, value, at)


def _confined_path(job: Job, rid: ResourceId, key: str, value: str,
                   at: Loc | None) -> str | None:
    stack_dir = job.project.stacks[job.name].path
    try:
        real = confine(stack_dir / value, job.project.root, job.project.policy, at=at,
                       label=value)
    except RenderError as exc:
        job.problems.extend(Problem(f"{rid}: {key}: {p.message}", p.file, p.line, p.column,
                                    hint=p.hint) for p in exc.problems)
        return None
    if not is_file(real):
        job.problems.append(problem_at(f"{rid}: {key} '{value}' is not a file in the project",
                                       at, hint="paths are relative to the stack directory"))
        return None
    return str(real)


def _bad_read_field(job: Job, rid: ResourceId, key: str, value: Any, at: Loc | None) -> None:
    """A ``source:`` that is a secret or known only after apply cannot be confined now."""
    if contains_sensitive(value) or contains_unknown(value) or isinstance(value, Deferred):
        job.problems.append(problem_at(
            f"{rid}: {key} must be a path known when rendering (not a secret or another "
            "resource's attribute)", at))
    # any other type is reported by the kind's schema


def raw_props(job: Job, rid: ResourceId) -> Any:
    """The ``properties:`` map of ``rid``'s resource as written, for locations."""
    for name, info in job.table.items():
        if rid in info.ids.values():
            body = job.layered.resources.get(name)
            return body.get("properties") if isinstance(body, Mapping) else None
    return None
