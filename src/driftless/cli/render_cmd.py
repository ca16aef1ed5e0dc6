"""CLI commands of the stack language: validate, render, schema, env init.

They read the project's files and print; ``schema -o`` and ``env init``
write one file each. Nothing here plans or applies.

``validate`` runs where secrets are not (CI): a sensitive variable without a
value is checked with a placeholder and reported as a warning, because the
environment that applies must still give it; ``--require-secrets`` makes
that an error again. ``SecretWarnings`` collects those warnings for
``validate``, ``render --no-secrets`` and ``plan --no-secrets``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from driftless.errors import ConfigError, DriftlessError, Problem, RenderError
from driftless.model import UNKNOWN, DesiredStack
from driftless.providers import KindSpec, ProviderSet, available_providers, load_provider
from driftless.render import (
    KindLookup,
    Project,
    RenderOptions,
    env_template,
    find_project,
    language_schema,
    load_project,
    render_stack,
    stack_json,
    stack_order,
    validate_stacks,
)
from driftless.state import open_backend

from .output import console, err_console, guard, print_json
from .secret_warnings import SecretWarnings, cwd_relative, problem_json

__all__ = ["SecretWarnings", "register"]


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The C emitter, also for ``str`` subclasses (a quoted ``${`` value keeps its type)."""


_Dumper.add_multi_representer(str, yaml.SafeDumper.represent_str)
_DUMPER = _Dumper

DirOpt = Annotated[Path | None, typer.Option("-C", "--directory",
                                             help="Project directory (default: search upward).")]
EnvOpt = Annotated[str | None, typer.Option("--env", help="Environment to render, e.g. prod.")]
VarOpt = Annotated[list[str] | None, typer.Option(
    "--var", help="Set a variable: --var name=value (repeatable; wins over every file).")]
VarFileOpt = Annotated[list[Path] | None, typer.Option(
    "--var-file", help="YAML file of name: value pairs (repeatable, later files win).")]


RequireSecretsOpt = Annotated[bool, typer.Option(
    "--require-secrets",
    help="A sensitive variable without a value is an error (default: a warning, checked "
         "with a placeholder, so CI can validate without secrets).")]
NoSecretsOpt = Annotated[bool, typer.Option(
    "--no-secrets",
    help="Render without secrets: a sensitive variable without a value becomes a "
         "placeholder (a warning, not an error).")]


def _options(env: str | None, var: list[str] | None, var_file: list[Path] | None) -> RenderOptions:
    values: dict[str, str] = {}
    for item in var or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--var '{item}' is not name=value",
                              hint="write it as --var replicas=3")
        values[name.strip()] = value
    files = tuple(p.resolve() for p in var_file or [])
    return RenderOptions(env=env, variables=values, var_files=files)


class _ProviderKinds:
    """A ``KindLookup`` over installed providers; None for one that is not installed.

    ``kind_names`` lets the renderer name an unknown kind of an installed provider.
    """

    def __init__(self, providers: ProviderSet) -> None:
        self._providers = providers

    def __call__(self, provider: str, kind: str) -> KindSpec | None:
        try:
            return self._providers.spec(provider, kind)
        except ConfigError:
            return None

    def kind_names(self, provider: str) -> list[str] | None:
        try:
            return sorted(self._providers.get(provider).kinds())
        except ConfigError:
            return None


def kind_lookup(providers: ProviderSet) -> KindLookup:
    """Specs from installed providers; None for a provider that is not installed."""
    return _ProviderKinds(providers)


def _relative(problems: tuple[Problem, ...], project: Project) -> list[Problem]:
    """Problems with paths relative to the current directory, so snippets can be shown."""
    return [cwd_relative(p, project.root) for p in problems]


def _load(directory: Path | None) -> Project:
    start = directory.resolve() if directory else None
    try:
        return load_project(start)
    except RenderError as exc:
        root = find_project(start)
        raise RenderError([cwd_relative(p, root) for p in exc.problems]) from None


def validate(directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None,
             var_file: VarFileOpt = None, require_secrets: RequireSecretsOpt = False,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
             ) -> None:
    """Check every stack (variables, references, schemas) and list every problem.

    Secrets may be absent (CI): each sensitive variable without a value is a
    warning and is checked with a placeholder; --require-secrets makes it an error.

    Example: driftless validate --env prod --var worker_count=3
    """
    with guard("nothing was planned"):
        project = _load(directory)
        warnings = SecretWarnings()
        options = _options(env, var, var_file)
        if not require_secrets:
            options = warnings.optional(options)
        providers = ProviderSet(project.provider_config(env))
        try:
            problems, rendered = validate_stacks(project, options, kinds=kind_lookup(providers))
        finally:
            providers.close()
        found = _relative(tuple(problems), project)
        total = sum(len(d.resources) for d in rendered.values())
        if as_json:
            _validate_json(found, len(project.stacks), total, warnings.to_json(project.root))
            return
        warnings.print(project.root)
        if found:
            raise RenderError(found)
        console.print(_valid_line(len(project.stacks), total, len(warnings.found)))


def _valid_line(stacks: int, resources: int, placeholders: int) -> str:
    """``valid: 3 stacks, 12 resources`` and how many secrets were only placeholders."""
    line = f"valid: {stacks} stack{'s' if stacks != 1 else ''}, {resources} resources"
    if placeholders:
        line += (f" ({placeholders} secret{'s' if placeholders != 1 else ''} not given, "
                 "checked with placeholders)")
    return line


def _validate_json(problems: Sequence[Problem], stacks: int, resources: int,
                   warnings: list[dict[str, Any]]) -> None:
    """Machine-readable validation; exit 1 when anything is wrong (warnings are not)."""
    print_json({
        "valid": not problems, "stacks": stacks, "resources": resources,
        "problems": [problem_json(p) for p in problems], "warnings": warnings,
    })
    if problems:
        raise typer.Exit(1)


def render(stack: Annotated[str | None, typer.Argument(help="Stack to render (default: all).")]
           = None, directory: DirOpt = None, env: EnvOpt = None, var: VarOpt = None,
           var_file: VarFileOpt = None, no_secrets: NoSecretsOpt = False,
           as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the fully rendered desired state (secrets masked) and its digest.

    Example: driftless render app --env stage --json
    """
    with guard("nothing was rendered"):
        project = _load(directory)
        warnings = SecretWarnings()
        options = _options(env, var, var_file)
        if no_secrets:
            options = warnings.optional(options)
        providers = ProviderSet(project.provider_config(env))
        docs = []
        outputs: dict[str, Mapping[str, Any]] = {}
        try:
            for name in stack_order(project, [stack] if stack else None):
                desired = _render_one(project, name, options, providers, outputs)
                outputs[name] = _known_outputs(project, name) or dict.fromkeys(
                    desired.outputs, UNKNOWN)
                if stack is None or name == stack:
                    docs.append(stack_json(desired))
        except RenderError as exc:
            raise RenderError(_relative(exc.problems, project)) from None
        finally:
            providers.close()
        warnings.print(project.root)
        _print_stacks(docs, as_json=as_json)


def _render_one(project: Project, name: str, options: RenderOptions, providers: ProviderSet,
                outputs: Mapping[str, Mapping[str, Any]]) -> DesiredStack:
    # ``outputs`` already holds each upstream's recorded outputs (read once per stack)
    return render_stack(project, name, options, stack_outputs=outputs,
                        kinds=kind_lookup(providers))


def _known_outputs(project: Project, name: str) -> Mapping[str, Any]:
    """Outputs recorded in state, when the backend is reachable (render works without)."""
    url = project.state_url
    if url.startswith("sqlite:///") and not (project.root / url[len("sqlite:///"):]).exists():
        return {}  # opening it would create it, and render never writes
    try:
        backend = open_backend(url, root=project.root)
        try:
            return dict(backend.read(name).outputs)
        finally:
            backend.close()
    except (DriftlessError, OSError):
        return {}


def _print_stacks(docs: list[dict[str, object]], *, as_json: bool) -> None:
    if as_json:
        print_json(docs[0] if len(docs) == 1 else docs)
        return
    for doc in docs:
        # the C emitter straight to stdout: a large value through rich's console or
        # the pure-Python dumper takes many times longer than planning it
        body = {k: v for k, v in doc.items() if k not in ("stack", "digest")}
        sys.stdout.write(f"# stack {doc['stack']}  digest {doc['digest']}\n")
        yaml.dump(body, sys.stdout, Dumper=_DUMPER, sort_keys=False, width=100,
                  allow_unicode=True)
        sys.stdout.write("\n")
    sys.stdout.flush()


def _all_kinds() -> dict[str, KindSpec]:
    kinds: dict[str, KindSpec] = {}
    for name in available_providers():
        try:
            provider = load_provider(name)
        except Exception as exc:  # a broken plugin must not stop the export of the others
            err_console.print(f"warning: provider '{name}' could not be loaded: {exc}")
            continue
        kinds.update({f"{name}:{k}": spec for k, spec in provider.kinds().items()})
        provider.close()
    return kinds


def schema(output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Write to this file instead of stdout.")] = None) -> None:
    """Export JSON Schema of driftless.yaml, stack.yaml and every installed kind.

    Example: driftless schema -o .driftless/schema.json   then in a YAML file:
    # yaml-language-server: $schema=.driftless/schema.json
    """
    text = json.dumps(language_schema(_all_kinds()), indent=2, sort_keys=True) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")


env_app = typer.Typer(help="Environments: values templates.", no_args_is_help=True)


@env_app.command("init")
def env_init(name: Annotated[str, typer.Argument(help="Environment name, e.g. prod.")],
             directory: DirOpt = None) -> None:
    """Write environments/NAME.yaml: a commented template of every variable.

    Example: driftless env init prod   (refuses to overwrite an existing file)
    """
    with guard():
        project = _load(directory)
        path = project.root / "environments" / f"{name}.yaml"
        if path.exists():
            raise ConfigError(f"{project.rel(path)} already exists; not overwriting it",
                              hint="delete or rename it first to generate a fresh template")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env_template(project, name))
        console.print(f"wrote {project.rel(path)}")
        if name not in project.environments:
            console.print(f"note: add '{name}' to environments: in driftless.yaml to use it")


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("validate")(validate)
    app.command("render")(render)
    app.command("schema")(schema)
    app.add_typer(env_app, name="env")
