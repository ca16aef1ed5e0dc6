"""What an untrusted repository may do: readable roots and resource limits.

The trust model: everything from Git is untrusted; only the operator (CLI
flags, environment variables, an agent config file outside the repository)
may widen it. A ``Policy`` is therefore built from operator input only and
handed down to render; nothing in a project file can change it. Pure data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

__all__ = [
    "ENV_ALLOW_READ",
    "ENV_LIMIT_PREFIX",
    "LIMIT_DOCS",
    "Limits",
    "Policy",
    "PolicyError",
    "limit_hint",
    "limit_names",
]

ENV_ALLOW_READ = "DRIFTLESS_ALLOW_READ"
ENV_LIMIT_PREFIX = "DRIFTLESS_LIMIT_"


class PolicyError(ValueError):
    """An operator setting (flag, variable, agent config) is malformed."""


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Policy:
    """Extra readable roots (beyond the project) and the limits in force."""

    read_roots: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)

    def widened(self, *, read_roots: Iterable[str | Path] = (),
                limits: Mapping[str, int | str] | None = None) -> Policy:
        """This policy with more readable roots and some limits replaced."""
        roots = (*self.read_roots, *(Path(r).expanduser().resolve() for r in read_roots))
        return Policy(tuple(dict.fromkeys(roots)), self.limits.updated(limits or {}))

    def may_read(self, path: Path, root: Path) -> bool:
        """True when ``path`` (already resolved) lies in the project or an allowed root."""
        return any(path.is_relative_to(r) for r in (root.resolve(), *self.read_roots))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Policy:
        """``DRIFTLESS_ALLOW_READ`` (os.pathsep list) and ``DRIFTLESS_LIMIT_<NAME>``."""
        roots = [r for r in environ.get(ENV_ALLOW_READ, "").split(":") if r]
        limits = {k[len(ENV_LIMIT_PREFIX):]: v for k, v in environ.items()
                  if k.startswith(ENV_LIMIT_PREFIX)}
        return cls().widened(read_roots=roots, limits=limits)


def limit_names() -> tuple[str, ...]:
    """Every limit's name, in declaration order."""
    return tuple(f.name for f in fields(Limits))
