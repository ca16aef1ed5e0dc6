"""Where variable values come from, in precedence order (lowest first).

1. the declaration's ``default``;
2. the SOPS files stack.yaml's ``secrets:`` lists, in order;
3. overlays' ``variables:`` (base first, the environment's own overlay last);
4. environments/<env>.yaml ``variables:``, then its ``stacks: {NAME: {variables:}}``;
5. the SOPS files environments/<env>.yaml's ``secrets:`` lists, in order;
6. ``DRIFTLESS_VAR_<name>`` environment variables;
7. ``--var-file`` files, in the order given (flat ``name: value`` maps);
8. ``--var name=value``, last one wins.

A values file (level 4 or 7) may itself be SOPS-encrypted; a ``secrets:``
file sits just above the file that lists it. Values decrypted from SOPS are
``Sensitive`` (``sops_values``). A file the operator has no key for gives
placeholders instead, reported like a missing secret when secrets are
optional and as an error otherwise.

A value for a variable that no stack of the project declares is an error
(a typo would otherwise be silently ignored). When the options make
secrets optional, a sensitive variable that no source gives (``name:
null``, as ``env init`` writes a required value, counts as not given) is
reported as a warning and gets a typed placeholder. I/O: reads values files
and SOPS files (through ``sops_values``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from driftless.errors import Problem, RenderError
from driftless.records import record
from driftless.render.inputs import note_environ
from driftless.render.job import RenderOptions
from driftless.render.options import ENV_PREFIX
from driftless.render.overlay import Layered
from driftless.render.project import Project
from driftless.render.shape import ENV_SHAPE, sanitize
from driftless.render.sops_values import has_locked, open_secrets_file, open_values_doc
from driftless.render.suggest import did_you_mean
from driftless.render.variables import (
    ValueSource,
    VarDecl,
    missing_secret,
    parse_declarations,
    placeholder,
    unknown_names,
)
from driftless.render.yamlio import Loc, LocDict, key_where, problem_at, where
from driftless.secrets.sops_detect import is_sops_document

__all__ = ["ENV_PREFIX", "declared_names", "gather_sources"]

_ENV_KEYS = ("variables", "providers", "stacks", "secrets")


@record
class _Run:
    """What reading each source of one stack's values needs."""

    project: Project
    stack: str
    options: RenderOptions
    known: set[str]
    problems: list[Problem]

    @cached_property
    def decls(self) -> dict[str, VarDecl]:
        """The stack's declarations (their problems are the render's to report)."""
        doc = self.project.load_stack_doc(self.stack)
        return parse_declarations(doc.get("variables") if isinstance(doc, Mapping) else None,
                                  [])


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
    run = _Run(project, stack, options, declared_names(project), problems)
    sources = _secrets_list(run, project.load_stack_doc(stack))
    sources += [_from_map(label, values) for label, values in layered.values]
    if options.env is not None:
        sources += _env_file(run, options.env)
    sources.append(_from_environ(options.environment()))
    for path in options.var_files:
        sources += _var_file(run, path)
    cli = ValueSource("--var", dict(options.variables), {}, from_text=True)
    problems.extend(unknown_names(dict.fromkeys(cli.values), run.known, "--var"))
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


def _env_file(run: _Run, env: str) -> list[ValueSource]:
    """environments/<env>.yaml (plain or SOPS): its values, then its ``secrets:`` files."""
    label = f"environments/{env}.yaml"
    problems = run.problems
    doc = _load_map(lambda: run.project.env_file(env), label, "a map with variables:",
                    problems)
    if doc is None:
        return []
    doc = _decrypted(run, doc, run.project.root / "environments" / f"{env}.yaml", label)
    doc = sanitize(doc, ENV_SHAPE, problems)
    for key in doc:
        if key not in _ENV_KEYS:
            problems.append(problem_at(f"unknown key '{key}' in {label}", key_where(doc, key),
                                       hint=did_you_mean(key, _ENV_KEYS)
                                       or "keys: variables, providers, stacks, secrets"))
    out = []
    shared = doc.get("variables") or {}
    if isinstance(shared, Mapping):
        problems.extend(unknown_names(_locs(shared), run.known, label))
        out += _split_locked(run, label, shared)
    per_stack = (doc.get("stacks") or {}).get(run.stack) or {}
    if isinstance(per_stack, Mapping) and isinstance(per_stack.get("variables"), Mapping):
        out += _split_locked(run, f"{label} (stacks.{run.stack})", per_stack["variables"])
    return out + _secrets_list(run, doc)


def _decrypted(run: _Run, doc: Mapping[str, Any], path: Path, label: str) -> Mapping[str, Any]:
    """A values file as written, or, when it is a SOPS document, decrypted with its
    encrypted values ``Sensitive`` (``LOCKED`` when no key here opens it)."""
    if not is_sops_document(doc):
        return doc
    opened = open_values_doc(run.project, doc, path, label, run.options.sops,
                             run.options.environment())
    _report(run, opened.problem, missing_key=opened.missing_key)
    return opened.values


def _secrets_list(run: _Run, doc: Any) -> list[ValueSource]:
    """The values of each SOPS file a ``secrets:`` list names, in order.

    A wrong type of ``secrets:`` is reported by the file's shape check; here
    it is only skipped.
    """
    entries = doc.get("secrets") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list):
        return []
    out = []
    for index, entry in enumerate(entries):
        opened = open_secrets_file(run.project, entry, where(entries, index),
                                   run.options.sops, run.options.environment())
        _report(run, opened.problem, missing_key=opened.missing_key)
        label = str(entry)
        run.problems.extend(unknown_names({k: opened.locs.get(k) for k in opened.values},
                                          run.known, label))
        out += _split_locked(run, label, opened.values, opened.locs,
                             from_text=opened.from_text)
    return out


def _report(run: _Run, problem: Problem | None, *, missing_key: bool) -> None:
    """A SOPS file that cannot be opened: a warning when only the key is missing and
    secrets are optional (CI checks without keys), else an error. Either way its
    values become placeholders, so the error is not buried under "required" ones."""
    if problem is None:
        return
    report = run.options.on_missing_secret
    if not (missing_key and report is not None):
        run.problems.append(problem)
        return
    report(Problem(f"{problem.message}; its encrypted values are checked with placeholders",
                   problem.file, problem.line, problem.column,
                   hint="the environment that applies must hold an age key for it "
                        "(SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_CMD)"))


def _split_locked(run: _Run, label: str, values: Mapping[str, Any],
                  locs: Mapping[str, Loc] | None = None, *,
                  from_text: bool = False) -> list[ValueSource]:
    """``values`` as a source, with each value that could not be decrypted moved to a
    placeholder source at the same precedence (declared by this stack, else dropped)."""
    locs = _locs_of(values) if locs is None else locs
    locked = {k for k, v in values.items() if has_locked(v)}
    clear = {k: v for k, v in values.items() if k not in locked}
    out = [ValueSource(label, clear, locs, from_text=from_text)]
    stand_in = {k: placeholder(run.decls[k]) for k in sorted(locked) if k in run.decls}
    if stand_in:
        out.append(ValueSource(f"a placeholder for values of {label}", stand_in, {},
                               placeholder=True))
    return out


def _locs_of(values: Mapping[str, Any]) -> Mapping[str, Loc]:
    """Where each value of a parsed map was written."""
    return values.locs if isinstance(values, LocDict) else {}


def _locs(values: Mapping[str, Any]) -> dict[str, Loc | None]:
    return {k: where(values, k) for k in values}


def _from_environ(environ: Mapping[str, str]) -> ValueSource:
    note_environ(environ, ENV_PREFIX)
    values = {k[len(ENV_PREFIX):]: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
    return ValueSource("the environment (DRIFTLESS_VAR_*)", values, {}, from_text=True)


def _var_file(run: _Run, path: Path) -> list[ValueSource]:
    """A ``--var-file``: a flat map of values, plain or SOPS-encrypted."""
    label = str(path)
    doc = _load_map(lambda: run.project.load(path) or {}, label,
                    "a map of name: value", run.problems)
    if doc is None:
        return []
    doc = _decrypted(run, doc, path, label)
    run.problems.extend(unknown_names(_locs(doc), run.known, label))
    return _split_locked(run, label, doc)


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
