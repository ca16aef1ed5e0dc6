"""The project file (driftless.yaml) and the stacks it lists.

``find_project`` walks up from a directory to the one holding driftless.yaml;
``load_project`` reads it and each stack's own dependencies; ``stack_order``
sorts stacks so dependencies come first. I/O: reads the project's files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from driftless.errors import ConfigError, Problem, RenderError
from driftless.model.policy import Policy
from driftless.records import record
from driftless.render.inputs import (
    glob_sorted,
    is_file,
    not_cacheable,
    note_file,
    note_resolved,
)
from driftless.render.suggest import did_you_mean
from driftless.render.targets import parse_inventory
from driftless.render.yamlio import (
    SHARED,
    Loc,
    YamlCache,
    display_path,
    key_where,
    problem_at,
    where,
)

__all__ = [
    "DEFAULT_STATE",
    "PROJECT_FILE",
    "Project",
    "StackRef",
    "check_name",
    "confine",
    "find_project",
    "load_project",
    "stack_order",
]

PROJECT_FILE = "driftless.yaml"
DEFAULT_STATE = "sqlite:///.driftless/state.db"
# ``agent:`` is read and checked by the agent (driftless.agent.config), not here
_KEYS = ("project", "state", "environments", "providers", "stacks", "settings", "agent",
         "inventory")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_STACK_REF = re.compile(r"\$\{\s*stack\.([A-Za-z0-9_][A-Za-z0-9_-]*)\.")


@record
class StackRef:
    """A stack listed in the project: its name, directory and the stacks it needs."""

    name: str
    path: Path
    depends_on: tuple[str, ...] = ()


@record
class Project:
    """The parsed driftless.yaml. ``cache`` keeps parsed files for this process."""

    root: Path
    name: str
    state_url: str
    environments: tuple[str, ...]
    stacks: Mapping[str, StackRef]
    settings: Mapping[str, Any] = field(default_factory=dict)
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    cache: YamlCache = field(default=SHARED, compare=False, repr=False)
    policy: Policy = field(default_factory=Policy, compare=False)

    @property
    def inventory(self) -> Mapping[str, Any]:
        """driftless.yaml's ``inventory:`` (hosts, groups), kept in ``settings``."""
        found = self.settings.get("inventory")
        return found if isinstance(found, Mapping) else {}

    def load(self, path: Path, *, at: Loc | None = None) -> Any:
        """A parsed YAML file of the project, confined and under the policy's limits.

        ``at`` is where the repository named the file, for the error when the
        name (or a symlink on the way) leads outside the readable roots.
        """
        confine(path, self.root, self.policy, at=at, label=self.rel(path))
        return self.cache.load(path, name=self.rel(path), limits=self.policy.limits)

    def provider_config(self, env: str | None) -> Mapping[str, Mapping[str, Any]]:
        """``providers:`` with environments/<env>.yaml ``providers:`` merged over it."""
        merged = {k: dict(v) for k, v in self.providers.items()}
        if env is None:
            return merged
        doc = self.env_file(env)
        extra = doc.get("providers") if isinstance(doc, Mapping) else None
        for name, conf in (extra.items() if isinstance(extra, Mapping) else ()):
            merged.setdefault(name, {}).update(conf if isinstance(conf, Mapping) else {})
        return merged

    def env_file(self, env: str) -> Any:
        """Parsed environments/<env>.yaml ({} when the file does not exist)."""
        check_name(env, "environment")
        path = self.root / "environments" / f"{env}.yaml"
        if not is_file(path):
            return {}
        return self.load(path) or {}

    def rel(self, path: Path) -> str:
        """``path`` as shown in messages: relative to the project root."""
        return display_path(path, self.root)

    def stack_file(self, name: str) -> Path:
        """The stack.yaml of stack ``name``."""
        return self.stacks[name].path / "stack.yaml"

    def load_stack_doc(self, name: str) -> Any:
        """The parsed stack.yaml of ``name`` (cached)."""
        return self.load(self.stack_file(name)) or {}


def check_name(name: str, what: str, at: Loc | None = None) -> None:
    """Refuse a stack, environment or overlay name that could name a path elsewhere."""
    if not NAME.match(name):
        raise RenderError([problem_at(
            f"'{name}' is not a valid {what} name", at,
            hint="names use letters, digits, '_', '-' and '.', and start with a letter, "
                 "digit or '_'")])


def confine(path: Path, root: Path, policy: Policy, *, at: Loc | None = None,
            label: str | None = None) -> Path:
    """``path`` with symlinks resolved, when it lies inside the project or an
    operator-allowed root; otherwise a ``RenderError`` that names the rule."""
    shown = label or str(path)
    if "\0" in str(path):
        raise RenderError([problem_at(f"path {shown!r} contains a NUL byte", at)])
    real = path.resolve()
    note_resolved(path, real)
    if policy.may_read(real, root):
        return real
    raise RenderError([problem_at(
        f"'{shown}' resolves outside the project ({real}); a repository may only read "
        "files inside its own directory", at,
        hint="move the file into the project, or the operator can allow a directory with "
             "--allow-read DIR (DRIFTLESS_ALLOW_READ, agent config allow_read)")])


def find_project(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding driftless.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / PROJECT_FILE).is_file():
            return candidate
    raise ConfigError(
        f"no {PROJECT_FILE} in {here} or any parent directory",
        hint="run inside a driftless project, point to one with -C DIR, or create one "
        "with `driftless init`",
    )


def load_project(directory: Path | None = None, *, policy: Policy | None = None) -> Project:
    """Read driftless.yaml (found from ``directory``) and its stacks' dependencies.

    ``policy`` comes from the operator (flags, environment, agent config),
    never from the repository: it is what the repository may read and cost.
    Without one, it is read from DRIFTLESS_ALLOW_READ and DRIFTLESS_LIMIT_*.
    """
    root = find_project(directory)
    cache = SHARED
    policy = policy or Policy.from_environ(os.environ)
    confine(root / PROJECT_FILE, root, policy, label=PROJECT_FILE)
    doc = cache.load(root / PROJECT_FILE, name=PROJECT_FILE, limits=policy.limits)
    problems: list[Problem] = []
    if not isinstance(doc, Mapping):
        raise RenderError([Problem(f"{PROJECT_FILE} must be a map with 'project:' and 'stacks:'",
                                   PROJECT_FILE, 1, 1)])
    _check_keys(doc, problems)
    refs = _stack_refs(root, doc.get("stacks"), where(doc, "stacks"), cache, problems, policy)
    project = Project(
        root=root, name=str(doc.get("project", root.name)),
        state_url=str(doc.get("state", DEFAULT_STATE)),
        environments=_environments(doc, problems),
        stacks=refs, settings=_with_inventory(doc, problems),
        providers={str(k): dict(v or {}) for k, v in _map(doc, "providers", problems).items()},
        cache=cache, policy=policy,
    )
    _check_state_path(project, where(doc, "state"), problems)
    _check_dependencies(project, doc, problems)
    if problems:
        raise RenderError(problems)
    return project


def _with_inventory(doc: Mapping[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``settings:``, plus the checked ``inventory:`` (kept there, so everything that
    stores or keys a loaded project carries it)."""
    settings = dict(_map(doc, "settings", problems))
    if "inventory" in doc:
        settings["inventory"] = parse_inventory(doc["inventory"], where(doc, "inventory"),
                                                problems)
    return settings


def _check_keys(doc: Mapping[str, Any], problems: list[Problem]) -> None:
    for key in doc:
        if key not in _KEYS:
            hint = did_you_mean(key, _KEYS) or f"keys: {', '.join(_KEYS)}"
            problems.append(problem_at(f"unknown key '{key}' in {PROJECT_FILE}",
                                       key_where(doc, key), hint=hint))
    if "project" not in doc:
        problems.append(Problem(f"{PROJECT_FILE} has no 'project:' name", PROJECT_FILE, 1, 1,
                                hint="add a line such as  project: myapp"))


def _environments(doc: Mapping[str, Any], problems: list[Problem]) -> tuple[str, ...]:
    """The listed environments; each name becomes a file name, so it must be plain."""
    listed = _list(doc, "environments", problems)
    for i, env in enumerate(listed):
        try:
            check_name(str(env), "environment", where(listed, i))
        except RenderError as exc:
            problems.extend(exc.problems)
    return tuple(str(e) for e in listed)


def _list(doc: Mapping[str, Any], key: str, problems: list[Problem]) -> list[Any]:
    value = doc.get(key) or []
    if not isinstance(value, list):
        problems.append(problem_at(f"'{key}' must be a list", where(doc, key)))
        return []
    return value


def _map(doc: Mapping[str, Any], key: str, problems: list[Problem]) -> Mapping[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, Mapping):
        problems.append(problem_at(f"'{key}' must be a map", where(doc, key)))
        return {}
    return value


def _stack_refs(root: Path, raw: Any, loc: Any, cache: YamlCache,
                problems: list[Problem], policy: Policy) -> dict[str, StackRef]:
    entries: list[tuple[str, str, Any]] = []
    if isinstance(raw, list):
        entries = [(Path(str(p)).name, str(p), where(raw, i)) for i, p in enumerate(raw)]
    elif isinstance(raw, Mapping):
        entries = [(str(k), str(v.get("path", k) if isinstance(v, Mapping) else v), where(raw, k))
                   for k, v in raw.items()]
    else:
        problems.append(problem_at("'stacks' must list the stack directories, e.g. "
                                   "[stacks/infra, stacks/app]", loc))
    out: dict[str, StackRef] = {}
    for name, rel, at in entries:
        ref = _stack_ref(root, name, rel, at, cache, problems, policy)
        if ref is not None and name in out:
            problems.append(problem_at(f"two stacks are named '{name}'", at))
        elif ref is not None:
            out[name] = ref
    return out


def _stack_ref(root: Path, name: str, rel: str, at: Any, cache: YamlCache,
               problems: list[Problem], policy: Policy) -> StackRef | None:
    try:
        check_name(name, "stack", at)
        path = confine(root / rel, root, policy, at=at, label=rel)
        stack_file = confine(path / "stack.yaml", root, policy, at=at, label=f"{rel}/stack.yaml")
    except RenderError as exc:
        problems.extend(exc.problems)
        return None
    if not is_file(stack_file):
        problems.append(problem_at(f"stack '{name}': no stack.yaml in {rel}", at,
                                   hint=f"create {rel}/stack.yaml or fix the path"))
        return None
    try:
        doc = cache.load(stack_file, name=display_path(path / "stack.yaml", root),
                         limits=policy.limits)
    except RenderError as exc:
        problems.extend(exc.problems)
        return None
    return StackRef(name, path, _stack_deps(path / "stack.yaml", doc, root, policy))


def _stack_deps(path: Path, doc: Any, root: Path, policy: Policy) -> tuple[str, ...]:
    explicit = doc.get("depends_on") if isinstance(doc, Mapping) else None
    names = {str(d) for d in explicit} if isinstance(explicit, list) else set()
    texts = [path, *glob_sorted(path.parent / "overlays", "*.yaml")]
    for text in texts:  # overlays may reference other stacks' outputs too
        real = text.resolve()
        note_resolved(text, real)
        if not (policy.may_read(real, root) and is_file(real)):
            continue  # others fail when loaded
        if real.stat().st_size > policy.limits.file_bytes:
            not_cacheable(f"{real} is over file_bytes")
            continue
        data = real.read_bytes()
        note_file(real, data)
        names.update(_STACK_REF.findall(data.decode(errors="replace")))
    return tuple(sorted(names))


def _check_state_path(project: Project, at: Loc | None, problems: list[Problem]) -> None:
    """A SQLite state file named by the repository lies in the project (or an allowed
    root) like everything else it reads; the operator may allow another place."""
    url = project.state_url
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        return  # other backends are reached with the operator's credentials
    path = url[len("sqlite:///"):]
    try:
        confine(project.root / path, project.root, project.policy, at=at, label=path)
    except RenderError as exc:
        problems.extend(exc.problems)


def _check_dependencies(project: Project, doc: Mapping[str, Any], problems: list[Problem]) -> None:
    for ref in project.stacks.values():
        for dep in ref.depends_on:
            if dep not in project.stacks:
                problems.append(Problem(
                    f"stack '{ref.name}' depends on unknown stack '{dep}'",
                    project.rel(ref.path / "stack.yaml"), 1, 1,
                    hint=did_you_mean(dep, project.stacks) or "list it under stacks: in "
                    f"{PROJECT_FILE}"))
    if not problems:
        try:
            stack_order(project)
        except RenderError as exc:
            problems.extend(exc.problems)


def stack_order(project: Project, selected: Sequence[str] | None = None) -> list[str]:
    """Stacks in dependency order; the dependencies of ``selected`` are included."""
    wanted = list(project.stacks) if selected is None else list(selected)
    for name in wanted:
        if name not in project.stacks:
            raise ConfigError(f"unknown stack '{name}'",
                              hint=did_you_mean(name, project.stacks)
                              or f"stacks: {', '.join(project.stacks)}")
    order: list[str] = []
    visiting: list[str] = []
    for name in sorted(wanted):
        _visit(project, name, visiting, order)
    return order


def _visit(project: Project, name: str, visiting: list[str], order: list[str]) -> None:
    if name in order:
        return
    if name in visiting:
        cycle = " -> ".join([*visiting[visiting.index(name):], name])
        path = project.rel(project.stack_file(name))
        raise RenderError([Problem(f"stack dependency cycle: {cycle}", path, 1, 1,
                                   hint="remove one of these depends_on or stack references")])
    visiting.append(name)
    for dep in project.stacks[name].depends_on:
        if dep in project.stacks:
            _visit(project, dep, visiting, order)
    visiting.pop()
    order.append(name)
