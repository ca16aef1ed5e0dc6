"""What an untrusted repository may do: readable roots and resource limits.

The trust model: everything from Git is untrusted; only the operator (CLI
flags, environment variables, an agent config file outside the repository)
may widen it. A ``Policy`` is therefore built from operator input only and
handed down to render; nothing in a project file can change it. Pure data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field, fields, replace
from pathlib import Path

from driftless.records import record

__all__ = [
    "ENV_ALLOW_READ",
    "ENV_LIMIT_PREFIX",
    "ENV_SECRET_COMMANDS",
    "ENV_SECRET_ENV",
    "ENV_SECRET_FILES",
    "LIMIT_DOCS",
    "Limits",
    "Policy",
    "PolicyError",
    "limit_hint",
    "limit_names",
]

ENV_ALLOW_READ = "DRIFTLESS_ALLOW_READ"
ENV_LIMIT_PREFIX = "DRIFTLESS_LIMIT_"
ENV_SECRET_FILES = "DRIFTLESS_SECRET_FILES"
ENV_SECRET_ENV = "DRIFTLESS_SECRET_ENV"
ENV_SECRET_COMMANDS = "DRIFTLESS_SECRET_COMMANDS"


class PolicyError(ValueError):
    """An operator setting (flag, variable, agent config) is malformed."""


@record
class Limits:
    """Ceilings on what rendering one revision may cost; each has a name users can raise."""

    yaml_alias_nodes: int = 100_000
    yaml_depth: int = 100
    file_bytes: int = 16 * 1024 * 1024
    instances: int = 10_000
    resources: int = 50_000
    string_bytes: int = 4 * 1024 * 1024

    def updated(self, values: Mapping[str, int | str]) -> Limits:
        """These limits with ``values`` (names as in ``LIMIT_DOCS``) replaced."""
        changes: dict[str, int] = {}
        for name, raw in values.items():
            key = name.strip().lower().replace("-", "_")
            if key not in LIMIT_DOCS:
                raise PolicyError(f"unknown limit '{name}' (limits: {', '.join(LIMIT_DOCS)})")
            changes[key] = _positive(raw, key)
        return replace(self, **changes)


LIMIT_DOCS: Mapping[str, str] = {
    "yaml_alias_nodes": "nodes a YAML file may produce through aliases (*name)",
    "yaml_depth": "nesting depth of maps and lists in a YAML file",
    "file_bytes": "size of one stack, overlay, environment or values file",
    "instances": "instances one resource may have through count or for_each",
    "resources": "resources in one rendered stack",
    "string_bytes": "size of a string a function returns (format, join, file, ...)",
}


def _positive(raw: int | str, name: str) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise PolicyError(f"limit {name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise PolicyError(f"limit {name} must be at least 1, got {value}")
    return value


def limit_hint(name: str) -> str:
    """How an operator raises limit ``name``; repositories cannot."""
    return (f"the operator can raise it with --limit {name}=N, "
            f"{ENV_LIMIT_PREFIX}{name.upper()}=N or 'limits: {{{name}: N}}' in the agent config")


@record
class Policy:
    """Extra readable roots (beyond the project), the limits in force, and where
    external secret references (``${secret.file:…}``, ``${secret.env:…}``,
    ``${secret.cmd:…}``) may reach: nothing of these unless the operator says so,
    except environment variables, which any reference may read unless the operator
    narrows them to a list of glob patterns."""

    read_roots: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)
    secret_roots: tuple[Path, ...] = ()
    secret_env: tuple[str, ...] | None = None  # None: every variable
    secret_commands: bool = False

    def widened(self, *, read_roots: Iterable[str | Path] = (),
                limits: Mapping[str, int | str] | None = None,
                secret_roots: Iterable[str | Path] = (),
                secret_env: Iterable[str] | None = None,
                secret_commands: bool | None = None) -> Policy:
        """This policy with more readable roots, some limits replaced, and secret
        references widened (``secret_env`` replaces the list when given)."""
        return Policy(
            _roots(self.read_roots, read_roots), self.limits.updated(limits or {}),
            _roots(self.secret_roots, secret_roots),
            tuple(secret_env) if secret_env is not None else self.secret_env,
            self.secret_commands if secret_commands is None else secret_commands)

    def may_read_secret(self, path: Path) -> bool:
        """True when ``path`` (already resolved) lies in an operator-allowed secret root."""
        return any(path.is_relative_to(r) for r in self.secret_roots)

    def may_read(self, path: Path, root: Path) -> bool:
        """True when ``path`` (already resolved) lies in the project or an allowed root."""
        return any(path.is_relative_to(r) for r in (root.resolve(), *self.read_roots))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Policy:
        """``DRIFTLESS_ALLOW_READ`` and ``DRIFTLESS_SECRET_FILES`` (':'-separated
        directories), ``DRIFTLESS_LIMIT_<NAME>``, ``DRIFTLESS_SECRET_ENV`` (':'-separated
        glob patterns) and ``DRIFTLESS_SECRET_COMMANDS=1``."""
        roots = [r for r in environ.get(ENV_ALLOW_READ, "").split(":") if r]
        limits = {k[len(ENV_LIMIT_PREFIX):]: v for k, v in environ.items()
                  if k.startswith(ENV_LIMIT_PREFIX)}
        secret_roots = [r for r in environ.get(ENV_SECRET_FILES, "").split(":") if r]
        env_list = environ.get(ENV_SECRET_ENV)
        return cls().widened(
            read_roots=roots, limits=limits, secret_roots=secret_roots,
            secret_env=None if env_list is None else [p for p in env_list.split(":") if p],
            secret_commands=environ.get(ENV_SECRET_COMMANDS, "").lower() in ("1", "true", "yes"))


def _roots(have: tuple[Path, ...], more: Iterable[str | Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys((*have, *(Path(r).expanduser().resolve() for r in more))))


def limit_names() -> tuple[str, ...]:
    """Every limit's name, in declaration order."""
    return tuple(f.name for f in fields(Limits))
