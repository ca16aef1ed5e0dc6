"""What every project command needs: the project, its state, providers, engine.

Built once per command from the common options (-C, --env, --var,
--var-file) and closed at the end, so providers and the state backend are
released even when a command fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import field
from pathlib import Path
from typing import Any

from driftless.engine import Engine
from driftless.errors import ConfigError, RenderError
from driftless.model import UNKNOWN, DesiredStack
from driftless.model.digest_key import current_key
from driftless.model.gcpause import outlive
from driftless.plan.memo import CleanMemo
from driftless.providers import ProviderSet
from driftless.records import record
from driftless.render.cache import RenderCache
from driftless.render.options import RenderOptions
from driftless.render.project import Project, load_project, stack_order
from driftless.state import StateBackend, open_backend

__all__ = ["Context", "parse_vars", "project_context"]


def parse_vars(items: Sequence[str] | None) -> dict[str, str]:
    """``--var k=v`` pairs into a dict, with a clear error for a bad one."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--var '{item}' is not of the form name=value",
                              hint="example: --var worker_count=3")
        out[key.strip()] = value
    return out


@record(frozen=False)
class Context:
    """One command's view of a project."""

    project: Project
    options: RenderOptions
    backend: StateBackend
    providers: ProviderSet
    engine: Engine
    rendered: dict[str, DesiredStack] = field(default_factory=dict)
    render_cache: RenderCache | None = None  # None: render every time
    # stack -> upstream stack -> outputs it rendered with as known after apply
    awaiting: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def order(self, selected: Sequence[str] | None = None) -> list[str]:
        """Stacks in dependency order (all, or the selected ones and their deps)."""
        return stack_order(self.project, list(selected) if selected else None)

    def check_all(self, names: Sequence[str]) -> None:
        """Render every stack of a multi-stack command before changing anything, so a
        repository with a broken stack applies nothing at all (other stacks'
        outputs count as unknown here; each stack is rendered again for real)."""
        if len(names) < 2:
            return
        from driftless.render.validate import validate_stacks  # renders: the evaluator

        problems, _ = validate_stacks(self.project, self.options, kinds=self.providers,
                                      selected=names)
        if problems:
            raise RenderError(problems)

    def render(self, name: str, *,
               as_planned: Mapping[str, Sequence[str]] | None = None) -> DesiredStack:
        """Render one stack with its dependencies' recorded outputs.

        ``as_planned`` renders it as a saved plan saw it: those upstream outputs
        count as unknown again, so the digest shows whether anything but them moved.
        """
        outputs: dict[str, Mapping[str, Any]] = {}
        waiting: dict[str, tuple[str, ...]] = {}
        for dep in self.project.stacks[name].depends_on:
            recorded, missing = self._upstream_outputs(dep)
            if as_planned is not None:
                missing = tuple(as_planned.get(dep, ()))
            outputs[dep] = {**recorded, **dict.fromkeys(missing, UNKNOWN)}
            if missing:
                waiting[dep] = missing
        if self.render_cache is None:
            from driftless.render.stack import render_stack as render
        else:
            render = self.render_cache.render_stack
        desired = render(self.project, name, self.options, stack_outputs=outputs,
                         kinds=self.providers)
        if as_planned is None:
            self.rendered[name] = desired
            self.awaiting[name] = waiting
        return desired

    def _upstream_outputs(self, dep: str) -> tuple[dict[str, Any], tuple[str, ...]]:
        """``dep``'s recorded outputs, and the declared ones it has not recorded yet
        (never applied): those are known only after apply, so a fresh project
        still plans whole."""
        recorded = dict(self.backend.read(dep).outputs)
        from driftless.render.validate import declared_outputs

        missing = tuple(o for o in declared_outputs(self.project, dep) if o not in recorded)
        return recorded, missing


@contextmanager
def project_context(
    *,
    directory: Path | None,
    env: str | None,
    variables: Sequence[str] | None = None,
    var_files: Sequence[Path] | None = None,
    workers: int = 10,
) -> Iterator[Context]:
    """Open the project at ``directory`` (or found from the cwd) for one command."""
    cache = RenderCache.for_project(directory)
    project = load_project(directory) if cache is None else cache.load_project(directory)
    if env is not None and project.environments and env not in project.environments:
        raise ConfigError(f"unknown environment '{env}'",
                          hint=f"environments: {', '.join(project.environments)}")
    options = RenderOptions(env=env, variables=parse_vars(variables),
                            var_files=tuple(var_files or ()))
    backend = open_backend(project.state_url, root=project.root)
    providers = ProviderSet(project.provider_config(env))
    try:
        engine = Engine(providers=providers, backend=backend, workers=workers,
                        memo=_clean_memo(cache, project.provider_config(env)))
        ctx = Context(project, options, backend, providers, engine, render_cache=cache)
        outlive(ctx)  # its rendered stacks go with a one-shot command's process
        yield ctx
    finally:
        providers.close()
        backend.close()


def _clean_memo(cache: RenderCache | None, config: Mapping[str, Any]) -> CleanMemo | None:
    """The clean-plan memo beside the render cache (off when the cache is off)."""
    if cache is None:
        return None
    return CleanMemo(cache.directory, key=current_key().secret, context=config)
