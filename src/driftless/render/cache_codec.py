"""Rendered stacks and loaded projects as plain tuples, for ``marshal``.

The render cache stores only builtin values (tuples, lists, dicts, strings,
numbers), never pickled classes, so loading a cache file can create nothing
but data. Values keep their exact types: a parsed YAML map (``LocDict``)
comes back with the positions messages point at, a quoted ``${...}`` string
(``Quoted``) stays quoted. Tuples never occur in rendered values, so a tuple
marks one of those. A secret (``Sensitive``) or a value waiting on another
resource (``Deferred``) is refused with ``Uncacheable``: the cache file never
holds a secret, and a deferred value is code, not data. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from driftless.model import UNKNOWN, DesiredStack, Resource, ResourceId, SourceLocation, Unknown
from driftless.render.project import Project, StackRef
from driftless.render.yamlio import SHARED, LocDict, LocList, Quoted

__all__ = [
    "Uncacheable",
    "decode_project",
    "decode_stack",
    "encode_project",
    "encode_stack",
]


class Uncacheable(ValueError):
    """A value the cache must not (a secret) or cannot (code) store."""


_PLAIN = frozenset({str, int, float, bool, type(None)})


class _Encoder:
    """Encodes values; ``marked`` tells whether any marker tuple was needed."""

    def __init__(self) -> None:
        self.marked = False

    def value(self, v: Any) -> Any:
        t = type(v)
        if t in _PLAIN:
            return v
        if t is dict:
            return {self.key(k): self.value(x) for k, x in v.items()}
        if t is list:
            return [self.value(x) for x in v]
        self.marked = True
        return self._marker(v)

    def key(self, k: Any) -> Any:
        if type(k) not in _PLAIN:
            raise Uncacheable(f"a map key of type {type(k).__name__}")
        return k

    def _marker(self, v: Any) -> tuple[Any, ...]:
        if isinstance(v, LocDict):
            body = {self.key(k): self.value(x) for k, x in v.items()}
            return ("M", v.loc, body, dict(v.locs), dict(v.key_locs))
        if isinstance(v, LocList):
            return ("L", v.loc, [self.value(x) for x in v], list(v.locs))
        if isinstance(v, Quoted):
            return ("Q", str(v))
        if isinstance(v, Unknown):
            return ("U",)
        if type(v) is tuple:
            return ("T", [self.value(x) for x in v])
        raise Uncacheable(f"a value of type {type(v).__name__}")


def _decode(v: Any) -> Any:
    t = type(v)
    if t is dict:
        return {k: _decode(x) for k, x in v.items()}
    if t is list:
        return [_decode(x) for x in v]
    if t is tuple:
        return _marker(v)
    return v


def _marker(v: tuple[Any, ...]) -> Any:
    tag = v[0]
    if tag == "M":
        out = LocDict({k: _decode(x) for k, x in v[2].items()})
        out.loc, out.locs, out.key_locs = v[1], dict(v[3]), dict(v[4])
        return out
    if tag == "L":
        items = LocList([_decode(x) for x in v[2]])
        items.loc, items.locs = v[1], list(v[3])
        return items
    if tag == "Q":
        return Quoted(v[1])
    if tag == "U":
        return UNKNOWN
    if tag == "T":
        return tuple(_decode(x) for x in v[1])
    raise ValueError(f"unknown marker {tag!r}")


def _value(encoded: tuple[bool, Any]) -> Any:
    """A value encoded with its ``marked`` flag: plain ones are used as loaded."""
    marked, v = encoded
    return _decode(v) if marked else v


def _encoded(v: Any) -> tuple[bool, Any]:
    enc = _Encoder()
    out = enc.value(v)
    return enc.marked, out


def encode_stack(stack: DesiredStack) -> tuple[Any, ...]:
    """A rendered stack as plain tuples (``Uncacheable`` when it holds a secret)."""
    resources = tuple(_resource(r) for r in stack.resources)
    return (stack.name, stack.digest, resources, _encoded(dict(stack.outputs)),
            tuple(stack.depends_on), _encoded(dict(stack.settings)))


def _resource(r: Resource) -> tuple[Any, ...]:
    source = None if r.source is None else (r.source.file, r.source.line, r.source.column)
    return (tuple(r.id), _encoded(dict(r.properties)), tuple(tuple(d) for d in r.depends_on),
            r.protect, source, tuple(tuple(t) for t in r.triggered_by))


def decode_stack(data: Any, revision: str | None) -> DesiredStack:
    """The stack ``encode_stack`` stored, at ``revision``."""
    name, digest, resources, outputs, depends_on, settings = data
    return DesiredStack(name, tuple(_decode_resource(r) for r in resources), digest,
                        _value(outputs), revision, tuple(depends_on), _value(settings))


def _decode_resource(r: Any) -> Resource:
    rid, props, deps, protect, source, triggered = r
    return Resource(ResourceId(*rid), _value(props), tuple(ResourceId(*d) for d in deps),
                    protect, None if source is None else SourceLocation(*source),
                    tuple(ResourceId(*t) for t in triggered))


def encode_project(project: Project) -> tuple[Any, ...]:
    """A loaded project as plain tuples (its YAML cache and policy are not stored)."""
    stacks = tuple((ref.name, str(ref.path), tuple(ref.depends_on))
                   for ref in project.stacks.values())
    providers = {str(k): v for k, v in project.providers.items()}
    return (str(project.root), project.name, project.state_url, tuple(project.environments),
            stacks, _encoded(dict(project.settings)), _encoded(providers))


def decode_project(data: Any, policy: Any) -> Project:
    """The project ``encode_project`` stored, under ``policy``."""
    root, name, state_url, environments, stacks, settings, providers = data
    refs = {n: StackRef(n, Path(p), tuple(d)) for n, p, d in stacks}
    plain_providers: Mapping[str, Any] = _value(providers)
    return Project(root=Path(root), name=name, state_url=state_url,
                   environments=tuple(environments), stacks=refs, settings=_value(settings),
                   providers=plain_providers, cache=SHARED, policy=policy)
