"""Rendered stacks and loaded projects as plain tuples, for ``marshal``.

The render cache stores only builtin values (tuples, lists, dicts, strings,
numbers), never pickled classes, so loading a cache file can create nothing
but data. Values keep their exact types: a parsed YAML map (``LocDict``)
comes back with the positions messages point at, a quoted ``${...}`` string
(``Quoted``) stays quoted. Tuples never occur in rendered values, so a tuple
marks one of those. A secret (``Sensitive``) is refused with ``Uncacheable``:
the cache file never holds a secret. A value waiting on another resource
(``Deferred``) is code, not data: it is stored as its expression, the
resources it waits on and what its scope held that the expression can name
(variables and upstream outputs named in it, ``count.index``, ``each``), and
made again from those when loaded (``evaluate.deferred_again``). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftless.model import (
    UNKNOWN,
    Deferred,
    DesiredStack,
    Resource,
    ResourceId,
    SourceLocation,
    Unknown,
)
from driftless.model.policy import Policy
from driftless.render.project import Project, StackRef
from driftless.render.yamlio import SHARED, LocDict, LocList, Quoted

if TYPE_CHECKING:  # the evaluator is imported only to decode a deferred value
    from driftless.render.evaluate import ResInfo, Scope
    from driftless.render.secret_refs import SecretCache

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
    """Encodes values; ``marked`` tells whether any marker tuple was needed.

    ``deferred`` maps the id of each ``Deferred`` the render made to (it, its
    scope, whether quoted); ``tables`` collects the reference tables of those
    scopes, each once.
    """

    def __init__(self, deferred: Mapping[int, tuple[Any, Any, bool]] | None = None) -> None:
        self.marked = False
        self.deferred = deferred or {}
        self.tables: list[Any] = []
        self._table_ids: dict[int, int] = {}

    def value(self, v: Any) -> Any:
        t = type(v)
        if t in _PLAIN:
            return v
        if t is dict:
            if _PLAIN.issuperset(map(type, v.values())) and _PLAIN.issuperset(map(type, v)):
                return v  # stored as it is: marshal writes a plain dict's contents
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
        if isinstance(v, Deferred) and id(v) in self.deferred:
            return self._deferred(v, *self.deferred[id(v)][1:])
        raise Uncacheable(f"a value of type {type(v).__name__}")

    def _deferred(self, d: Deferred, scope: Scope, quoted: bool) -> tuple[Any, ...]:
        """The expression, its refs and what of its scope the expression can name."""
        if scope.locals_only is not None or scope.budget is not None:
            raise Uncacheable("a deferred value inside a template")
        text = str(d.text)  # a Quoted string when it was written in quotes
        names = {k: self.value(v) for k, v in scope.variables.items() if k in text}
        outputs = {k: self.value(dict(v)) for k, v in scope.stack_outputs.items() if k in text}
        each = None if scope.each is None else [self.value(x) for x in scope.each]
        refs = tuple(sorted(tuple(r) for r in d.refs))
        return ("D", text, quoted, refs, names, outputs, scope.count_index, each,
                str(scope.base_dir), str(scope.root), scope.allow_resources,
                self._table(scope.resources))

    def _table(self, table: Mapping[str, ResInfo]) -> int:
        """The index of ``table`` (logical name -> ids by index) among ``tables``."""
        if id(table) not in self._table_ids:
            self._table_ids[id(table)] = len(self.tables)
            self.tables.append({name: (info.mode, [(i, tuple(rid)) for i, rid in info.ids.items()])
                                for name, info in table.items()})
        return self._table_ids[id(table)]


class _Decoder:
    """Decodes values; deferred ones get a scope under ``policy`` again."""

    def __init__(self, tables: list[Any], policy: Policy,
                 secrets: Callable[[], SecretCache]) -> None:
        self.raw_tables = tables
        self.tables: dict[int, dict[str, ResInfo]] = {}
        self.policy, self._secrets = policy, secrets
        self._made: SecretCache | None = None
        self._sources: dict[Any, SourceLocation] = {}

    def source(self, raw: Any) -> SourceLocation:
        """A declaring location: one object for every resource declared there (the
        instances of a ``count`` share theirs, as when rendered)."""
        found = self._sources.get(raw)
        if found is None:
            found = self._sources[raw] = SourceLocation(*raw)
        return found

    @property
    def secrets(self) -> SecretCache:
        """The render's secret cache, made when a deferred value first needs it."""
        if self._made is None:
            self._made = self._secrets()
        return self._made

    def value(self, encoded: tuple[bool, Any]) -> Any:
        """A value encoded with its ``marked`` flag: plain ones are used as loaded."""
        marked, v = encoded
        return self.walk(v) if marked else v

    def walk(self, v: Any) -> Any:
        t = type(v)
        if t is dict:
            return {k: self.walk(x) for k, x in v.items()}
        if t is list:
            return [self.walk(x) for x in v]
        if t is tuple:
            return self._marker(v)
        return v

    def _marker(self, v: tuple[Any, ...]) -> Any:
        tag = v[0]
        if tag == "M":
            out = LocDict({k: self.walk(x) for k, x in v[2].items()})
            out.loc, out.locs, out.key_locs = v[1], dict(v[3]), dict(v[4])
            return out
        if tag == "L":
            items = LocList([self.walk(x) for x in v[2]])
            items.loc, items.locs = v[1], list(v[3])
            return items
        if tag == "Q":
            return Quoted(v[1])
        if tag == "U":
            return UNKNOWN
        if tag == "T":
            return tuple(self.walk(x) for x in v[1])
        if tag == "D":
            return self._deferred(*v[1:])
        raise ValueError(f"unknown marker {tag!r}")

    def _deferred(self, text: str, quoted: bool, refs: Any, *held: Any) -> Any:
        """The stored deferred value; its expression is parsed and its scope built on
        first evaluation (a plan of an unchanged stack may evaluate few of them)."""
        from driftless.render.evaluate import deferred_again
        from driftless.render.job import as_text

        written = Quoted(text) if quoted else text
        waits_on = frozenset(ResourceId(*r) for r in refs)
        made: list[Deferred] = []

        def evaluate(lookup: Any) -> Any:
            if not made:
                made.append(deferred_again(written, waits_on, self._scope(*held)))
            return made[0].evaluate(lookup)

        stored = Deferred(written, waits_on, evaluate)
        return as_text(stored) if quoted else stored

    def _scope(self, names: Any, outputs: Any, count_index: int | None, each: Any,
               base_dir: str, root: str, allow_resources: bool, table: int) -> Scope:
        from driftless.render.evaluate import Scope

        return Scope(variables=self.walk(names), resources=self._table(table),
                     stack_outputs=self.walk(outputs), base_dir=Path(base_dir),
                     root=Path(root), count_index=count_index,
                     each=None if each is None else tuple(self.walk(each)),
                     allow_resources=allow_resources, policy=self.policy,
                     secrets=self.secrets)

    def _table(self, index: int) -> dict[str, ResInfo]:
        from driftless.render.evaluate import ResInfo

        if index not in self.tables:
            self.tables[index] = {
                name: ResInfo({i: ResourceId(*rid) for i, rid in ids}, mode)
                for name, (mode, ids) in self.raw_tables[index].items()}
        return self.tables[index]


def _plain_value(encoded: tuple[bool, Any]) -> Any:
    """A value of the project (never deferred, so its secret cache is never made)."""
    return _Decoder([], Policy(), _secret_cache).value(encoded)


def _secret_cache() -> SecretCache:
    """A new secret cache; its module (and the file functions it reads secrets
    with) is loaded only when a cached value needs one."""
    from driftless.render.secret_refs import SecretCache

    return SecretCache()


def _encoded(v: Any, enc: _Encoder | None = None) -> tuple[bool, Any]:
    enc = enc or _Encoder()
    enc.marked = False
    out = enc.value(v)
    return enc.marked, out


def encode_stack(stack: DesiredStack,
                 deferred: Mapping[int, tuple[Any, Any, bool]] | None = None) -> tuple[Any, ...]:
    """A rendered stack as plain tuples (``Uncacheable`` when it holds a secret, or a
    deferred value ``deferred`` does not know the scope of)."""
    enc = _Encoder(deferred)
    resources = tuple([_resource(r, enc) for r in stack.resources])
    outputs = _encoded(dict(stack.outputs), enc)
    settings = _encoded(dict(stack.settings), enc)
    return (stack.name, stack.digest, resources, outputs, tuple(stack.depends_on), settings,
            enc.tables)


def _resource(r: Resource, enc: _Encoder) -> tuple[Any, ...]:
    source, props, deps, triggered = r.source, r.properties, r.depends_on, r.triggered_by
    if props.__class__ is dict and _PLAIN.issuperset(map(type, props.values())) \
            and _PLAIN.issuperset(map(type, props)):
        encoded = (False, props)  # what ``_encoded`` gives, without its calls
    else:
        encoded = _encoded(dict(props), enc)
    return (tuple(r.id), encoded, tuple(map(tuple, deps)) if deps else (), r.protect,
            None if source is None else (source.file, source.line, source.column),
            tuple(map(tuple, triggered)) if triggered else ())


def decode_stack(data: Any, revision: str | None, *, policy: Policy,
                 secrets: Callable[[], SecretCache]) -> DesiredStack:
    """The stack ``encode_stack`` stored, at ``revision``; deferred values evaluate
    under ``policy`` with the secret cache ``secrets`` makes (on first need) as the
    render's own would have."""
    name, digest, resources, outputs, depends_on, settings, tables = data
    dec = _Decoder(tables, policy, secrets)
    return DesiredStack(name, tuple(_decode_resource(r, dec) for r in resources), digest,
                        dec.value(outputs), revision, tuple(depends_on), dec.value(settings))


def _decode_resource(r: Any, dec: _Decoder) -> Resource:
    rid, props, deps, protect, source, triggered = r
    return Resource(ResourceId(*rid), dec.value(props),
                    tuple(ResourceId(*d) for d in deps) if deps else (), protect,
                    None if source is None else dec.source(source),
                    tuple(ResourceId(*t) for t in triggered) if triggered else ())


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
    plain_providers: Mapping[str, Any] = _plain_value(providers)
    return Project(root=Path(root), name=name, state_url=state_url,
                   environments=tuple(environments), stacks=refs,
                   settings=_plain_value(settings),
                   providers=plain_providers, cache=SHARED, policy=policy)
