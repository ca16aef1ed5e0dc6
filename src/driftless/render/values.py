"""Where variable values come from, in precedence order (lowest first).

1. the declaration's ``default``;
2. overlays' ``variables:`` (base first, the environment's own overlay last);
3. environments/<env>.yaml ``variables:``, then its ``stacks: {NAME: {variables:}}``;
4. ``DRIFTLESS_VAR_<name>`` environment variables;
5. ``--var-file`` files, in the order given (flat ``name: value`` maps);
6. ``--var name=value``, last one wins.

A value for a variable that no stack of the project declares is an error
(a typo would otherwise be silently ignored). When the options make
secrets optional, a sensitive variable that no source gives (``name:
null``, as ``env init`` writes a required value, counts as not given) is
reported as a warning and gets a typed placeholder. I/O: reads values files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from driftless.errors import Problem, RenderError
from driftless.render.job import RenderOptions
from driftless.render.overlay import Layered
from driftless.render.project import Project
from driftless.render.shape import ENV_SHAPE, sanitize
from driftless.render.suggest import did_you_mean
from driftless.render.variables import (
    ValueSource,
    missing_secret,
    parse_declarations,
    placeholder,
    unknown_names,
)
from driftless.render.yamlio import Loc, LocDict, key_where, problem_at, where

__all__ = ["ENV_PREFIX", "declared_names", "gather_sources"]

ENV_PREFIX = "DRIFTLESS_VAR_"
_ENV_KEYS = ("variables", "providers", "stacks")


def declared_names(project: Project) -> set[str]:
    """Every variable name declared by any stack of the project."""
    names: set[str] = set()
    for stack in project.stacks:
        doc = project.load_stack_doc(stack)
        decls = doc.get("variables") if isinstance(doc, Mapping) else None
        if isinstance(decls, Mapping):
            names.update(decls)
    return names


def gather_sources(project: Project, stack: str, options: RenderOptions, layered: Layered,
                   problems: list[Problem]) -> list[ValueSource]:
    """Every source of values for ``stack``, lowest precedence first."""
    known = declared_names(project)
    sources = [_from_map(label, values) for label, values in layered.values]
    if options.env is not None:
        sources += _env_file(project, stack, options.env, known, problems)
    sources.append(_from_environ(options.environment()))
    for path in options.var_files:
        sources += _var_file(project, path, known, problems)
    cli = ValueSource("--var", dict(options.variables), {}, from_text=True)
    problems.extend(unknown_names(dict.fromkeys(cli.values), known, "--var"))
    return [*sources, cli, *_placeholders(project, stack, options, [*sources, cli])]


def _placeholders(project: Project, stack: str, options: RenderOptions,
                  sources: list[ValueSource]) -> list[ValueSource]:
    """Stand-ins for the stack's secrets that no source gives, each reported once.

    Only when ``options.on_missing_secret`` is set (validate, plan
    --no-secrets); a non-sensitive variable without a value stays an error.
    """
    report = options.on_missing_secret
    doc = project.load_stack_doc(stack) if report is not None else None
    if report is None or not isinstance(doc, Mapping):
        return []
    given = {name for source in sources for name, value in source.values.items()
             if value is not None}
    decls = parse_declarations(doc.get("variables"), [])  # their problems are the render's
    missing = [d for d in decls.values() if d.sensitive and d.required and d.name not in given]
    for decl in missing:
        report(missing_secret(decl, options.env))
    values = {d.name: placeholder(d) for d in missing}
    return [ValueSource("a placeholder for a secret not given", values, {}, placeholder=True)]


def _from_map(label: str, values: Mapping[str, Any]) -> ValueSource:
    locs = values.locs if isinstance(values, LocDict) else {}
    return ValueSource(label, dict(values), locs)


def _env_file(project: Project, stack: str, env: str, known: set[str],
              problems: list[Problem]) -> list[ValueSource]:
    label = f"environments/{env}.yaml"
    doc = _load_map(lambda: project.env_file(env), label, "a map with variables:", problems)
    if doc is None:
        return []
    doc = sanitize(doc, ENV_SHAPE, problems)
    for key in doc:
        if key not in _ENV_KEYS:
            problems.append(problem_at(f"unknown key '{key}' in {label}", key_where(doc, key),
                                       hint=did_you_mean(key, _ENV_KEYS)
                                       or "keys: variables, providers, stacks"))
    out = []
    shared = doc.get("variables") or {}
    if isinstance(shared, Mapping):
        problems.extend(unknown_names(_locs(shared), known, label))
        out.append(_from_map(label, shared))
    per_stack = (doc.get("stacks") or {}).get(stack) or {}
    if isinstance(per_stack, Mapping) and isinstance(per_stack.get("variables"), Mapping):
        out.append(_from_map(f"{label} (stacks.{stack})", per_stack["variables"]))
    return out


def _locs(values: Mapping[str, Any]) -> dict[str, Loc | None]:
    return {k: where(values, k) for k in values}


def _from_environ(environ: Mapping[str, str]) -> ValueSource:
    values = {k[len(ENV_PREFIX):]: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
    return ValueSource("the environment (DRIFTLESS_VAR_*)", values, {}, from_text=True)


def _var_file(project: Project, path: Path, known: set[str],
              problems: list[Problem]) -> list[ValueSource]:
    label = str(path)
    doc = _load_map(lambda: project.load(path) or {}, label,
                    "a map of name: value", problems)
    if doc is None:
        return []
    problems.extend(unknown_names(_locs(doc), known, label))
    return [_from_map(label, doc)]


def _load_map(load: Callable[[], Any], label: str, shape: str,
              problems: list[Problem]) -> Mapping[str, Any] | None:
    """A values file's top-level map; its problems are collected, never raised."""
    try:
        doc = load()
    except RenderError as exc:
        problems.extend(exc.problems)
        return None
    if not isinstance(doc, Mapping):
        problems.append(Problem(f"{label} must be {shape}", label, 1, 1))
        return None
    return doc
