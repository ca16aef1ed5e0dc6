"""The instances of one declared resource: properties, dependencies, checks.

``Instances`` prepares once per resource what all of its ``count`` or
``for_each`` instances share: the properties as a builder whose strings are
compiled (``compiled``), the names it depends on, its kind's spec and its
``protect``; each instance then costs only what differs. Whatever does not
compile, or fails for one instance, is evaluated the general way
(``Job.evaluate`` with the instance's own scope), so values, problems and
their order are what evaluating every instance from scratch gives. Pure
apart from the evaluator's file functions and ``read_fields`` (plan-time
file paths, confined to the project).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from driftless.model import Deferred, Resource, ResourceId, SourceLocation
from driftless.providers.base import KindSpec, schema_problems
from driftless.records import record
from driftless.render.compiled import Compiled, Compiler, Plainness, Slow
from driftless.render.job import Job, as_text, resolve_value
from driftless.render.read_fields import raw_props, read_fields
from driftless.render.scope import Scope
from driftless.render.suggest import did_you_mean
from driftless.render.yamlio import Loc, Quoted, problem_at, where

__all__ = ["Decl", "Instances", "build_one"]


@record
class Decl:
    """A resource as declared: its body, kind, and the (index, each) of its instances."""

    name: str
    body: Mapping[str, Any]
    loc: Loc | None
    provider: str
    kind: str
    mode: str
    instances: tuple[tuple[int | str | None, Any], ...]
    ssh_target: str | None = None  # a local kind run on this host over SSH


class _Instance:
    """One instance being built: its index, its ``each``, and its scope when needed."""

    __slots__ = ("_base", "_scope", "each", "index", "mode")

    def __init__(self, base: Scope, mode: str, index: Any, each: Any) -> None:
        self._base, self.mode, self.index = base, mode, index
        self.each = (index, each) if mode == "for_each" else None
        self._scope: Scope | None = None

    def move(self, index: Any, each: Any) -> _Instance:
        """This object as the instance at ``index``: nothing keeps an instance (its
        builders take what they need while it is built), so one serves them all."""
        self.index = index
        self.each = (index, each) if self.mode == "for_each" else None
        self._scope = None
        return self

    def scope(self) -> Scope:
        """The scope the general evaluator sees for this instance (made once)."""
        if self._scope is None:
            scope = self._base
            if self.mode == "count" and isinstance(self.index, int):
                scope = replace(scope, count_index=self.index)
            elif self.mode == "for_each":
                scope = replace(scope, each=self.each)
            self._scope = scope
        return self._scope


_Build = Callable[[_Instance], Any]
_UNSET: Any = object()


def build_one(job: Job, decl: Decl, index: int | str | None, each: Any,
              scope: Scope) -> Resource:
    """One instance evaluated from scratch (all there is to a resource without
    ``count`` or ``for_each``: preparing would cost more than it saves)."""
    if decl.mode == "count" and isinstance(index, int):
        scope = replace(scope, count_index=index)
    elif decl.mode == "for_each":
        scope = replace(scope, each=(index, each))
    body = decl.body
    props_loc = where(body, "properties") if "properties" in body else decl.loc
    before = len(job.problems)
    props = resolve_value(job, body.get("properties") or {}, scope, props_loc)
    rid = job.table[decl.name].ids[index]
    if not isinstance(props, Mapping):
        job.problems.append(problem_at(f"{rid}: properties must be a map", props_loc))
        props = {}
    if decl.ssh_target is not None:
        props = {**props, "ssh_target": decl.ssh_target}
    triggered = _names(job, decl, "triggered_by")
    deps = _not_itself(job, rid, {*_names(job, decl, "depends_on"), *triggered, *_refs(props)},
                       props_loc)
    if len(job.problems) == before:  # a failed expression would only cascade here
        props = read_fields(job, rid, props, props_loc)
        spec = job.kinds(rid.provider, rid.kind) if job.kinds is not None else None
        _validate(job, rid, props, props_loc, spec)
    source = SourceLocation(*decl.loc) if decl.loc else None
    return Resource(rid, props, deps, _protect(job, decl, scope), source,
                    tuple(sorted(triggered)))


def _not_itself(job: Job, rid: ResourceId, deps: set[ResourceId],
                loc: Loc | None) -> tuple[ResourceId, ...]:
    """``deps`` sorted, without ``rid`` (reported when it was there)."""
    if rid in deps:
        job.problems.append(problem_at(
            f"{rid} refers to itself", loc,
            hint="a resource cannot use its own attributes or depend on itself"))
        deps.discard(rid)
    return tuple(sorted(deps))


class Instances:
    """What every instance of a repeated ``decl`` shares, prepared once (its
    strings compiled, its names resolved); ``build`` makes the instances."""

    def __init__(self, job: Job, decl: Decl, scope: Scope, plainness: Plainness) -> None:
        self.job, self.decl, self.scope = job, decl, scope
        body = decl.body
        self.props_loc = where(body, "properties") if "properties" in body else decl.loc
        self.source = SourceLocation(*decl.loc) if decl.loc else None
        self.ids = job.table[decl.name].ids
        raw = body.get("properties") or {}
        self.fresh = isinstance(raw, Mapping)  # props are a new dict for each instance
        each_plain = decl.mode == "for_each" and all(plainness(v) for _, v in decl.instances)
        self.compiler = Compiler(scope, decl.mode, plainness, each_plain=each_plain)
        self.pure = True  # no string evaluated the general way: no Deferred, no refs
        self.props = self._builder(raw, self.props_loc)  # clears pure if need be
        self.names = self._static_names()
        # (the set, the sorted tuple, triggered_by sorted) when the same for every instance
        self.deps: tuple[frozenset[ResourceId], tuple[ResourceId, ...],
                         tuple[ResourceId, ...]] | None = None
        if self.names is not None and self.pure:
            triggered, named = self.names
            every = frozenset((*named, *triggered))
            self.deps = (every, tuple(sorted(every)), tuple(sorted(triggered)))
        raw_protect = body.get("protect", False)
        self.protect: bool | None = raw_protect if isinstance(raw_protect, bool) else None
        # (deps as a set, deps, triggered_by, protect) when ``build`` may take its quick
        # path: all shared, and nothing added to the properties
        self._quick: tuple[frozenset[ResourceId], tuple[ResourceId, ...],
                           tuple[ResourceId, ...], bool] | None = None
        if self.deps is not None and self.protect is not None and self.fresh \
                and decl.ssh_target is None:
            self._quick = (*self.deps, self.protect)
        self._spec: KindSpec | None = _UNSET
        self._file_fields: frozenset[str] | None = None

    def build(self, instances: Iterable[tuple[int | str | None, Any]]) -> list[Resource]:
        """The resources of ``instances`` ((index, each) pairs), in order.

        The common case (a dict, no problem, deps and protect shared) is taken
        here, with what it reads looked up once; ``_finish`` does the rest.
        """
        job, props_of, ids = self.job, self.props, self.ids
        problems, source, loc = job.problems, self.source, self.props_loc
        every, deps, triggered, protect = self._quick or (None, (), (), False)
        fields: frozenset[str] | None = None  # and the spec: looked up when first needed
        spec: KindSpec | None = None
        instance = _Instance(self.scope, self.decl.mode, None, None)
        out = []
        for index, each in instances:
            before = len(problems)
            props = props_of(instance.move(index, each))
            rid = ids[index]
            if every is not None and props.__class__ is dict and len(problems) == before \
                    and rid not in every:
                if fields is None:
                    fields, spec = self.file_fields(), self.spec()
                if not (fields and fields & props.keys()):
                    _validate(job, rid, props, loc, spec)
                    out.append(Resource(rid, props, deps, protect, source, triggered))
                    continue
            out.append(self._finish(instance, rid, props, before))
        return out

    def _finish(self, instance: _Instance, rid: ResourceId, props: Any,
                before: int) -> Resource:
        """The resource of one instance, given its evaluated properties."""
        job, decl = self.job, self.decl
        if props.__class__ is not dict and not isinstance(props, Mapping):
            job.problems.append(problem_at(f"{rid}: properties must be a map", self.props_loc))
            props = {}
        if decl.ssh_target is not None:
            props = {**props, "ssh_target": decl.ssh_target}
        if self.deps is not None and rid not in self.deps[0]:
            deps, triggered = self.deps[1:]
        else:
            deps, triggered = self._deps(rid, props)
        if len(job.problems) == before:  # a failed expression would only cascade here
            fields = self.file_fields()
            if fields and fields & props.keys():
                props = read_fields(job, rid, props, self.props_loc)
            elif not self.fresh:
                props = dict(props)  # as read_fields does: a copy
            _validate(job, rid, props, self.props_loc, self.spec())
        protect = self.protect if self.protect is not None else _protect(job, decl,
                                                                           instance.scope())
        return Resource(rid, props, deps, protect, self.source, triggered)

    def _deps(self, rid: ResourceId, props: Mapping[str, Any],
              ) -> tuple[tuple[ResourceId, ...], tuple[ResourceId, ...]]:
        """What ``rid`` depends on and is triggered by, problems reported."""
        job = self.job
        if self.names is not None:
            triggered, named = self.names
        else:
            triggered = _names(job, self.decl, "triggered_by")
            named = _names(job, self.decl, "depends_on")
        deps = {*named, *triggered, *(() if self.pure else _refs(props))}
        return _not_itself(job, rid, deps, self.props_loc), tuple(sorted(triggered))

    def spec(self) -> KindSpec | None:
        """The kind's spec, looked up once (the lookup may load the provider)."""
        if self._spec is _UNSET:
            kinds = self.job.kinds
            self._spec = kinds(self.decl.provider, self.decl.kind) if kinds is not None else None
        return self._spec

    def file_fields(self) -> frozenset[str]:
        """The properties naming files the kind reads at plan time (looked up once)."""
        if self._file_fields is None:
            self._file_fields = frozenset(getattr(self.spec(), "read_fields", frozenset()))
        return self._file_fields

    def _static_names(self) -> tuple[list[ResourceId], list[ResourceId]] | None:
        """``triggered_by`` and ``depends_on`` resolved once; None when they have
        problems (then each instance resolves and reports them, as it always did)."""
        problems = self.job.problems
        before = len(problems)
        names = (_names(self.job, self.decl, "triggered_by"),
                 _names(self.job, self.decl, "depends_on"))
        if len(problems) == before:
            return names
        del problems[before:]
        return None

    # -- properties -------------------------------------------------------------------
    def _builder(self, value: Any, loc: Loc | None) -> _Build:
        """What ``resolve_value(job, value, scope, loc)`` gives, per instance."""
        if isinstance(value, str):
            return self._string(value, loc) if "${" in value else lambda _i: value
        if isinstance(value, Mapping):
            fixed: dict[Any, Any] = {}  # every key in order, with the values known now
            built: list[tuple[Any, _Build]] = []
            for k, v in value.items():
                known = _known(v)
                fixed[k] = v if known else None
                if not known:
                    built.append((k, self._builder(v, where(value, k) or loc)))
            return _mapping(fixed, built)
        if isinstance(value, list):
            builds = [self._builder(v, where(value, n) or loc) for n, v in enumerate(value)]
            return lambda i: [b(i) for b in builds]
        return lambda _i: value

    def _string(self, text: str, loc: Loc | None) -> _Build:
        job = self.job
        code = self.compiler.template(text)
        if code is None:
            self.pure = False
            return lambda i: job.evaluate(text, i.scope(), loc)
        return _compiled(job, text, loc, code)


def _known(value: Any) -> bool:
    """Whether ``_builder`` gives ``value`` itself for every instance."""
    if isinstance(value, str):
        return "${" not in value
    return not isinstance(value, Mapping | list)


def _mapping(fixed: dict[Any, Any], built: list[tuple[Any, _Build]]) -> _Build:
    """A new dict for each instance: ``fixed`` copied (its keys stay in their
    order), then each ``built`` key evaluated, in order."""
    def build(i: _Instance) -> dict[Any, Any]:
        out = fixed.copy()
        for k, b in built:
            out[k] = b(i)
        return out
    return build


def _compiled(job: Job, text: str, loc: Loc | None, code: Compiled) -> _Build:
    quoted = isinstance(text, Quoted)

    def build(i: _Instance) -> Any:
        try:
            value = code(i.index, i.each)
        except (Slow, RecursionError):  # the general way gives the value, or the error
            return job.evaluate(text, i.scope(), loc)
        return as_text(value) if quoted and value.__class__ is not str else value
    return build


def _names(job: Job, decl: Decl, key: str) -> list[ResourceId]:
    raw = decl.body.get(key) or []
    if not isinstance(raw, list):
        raw = [raw]
    out: list[ResourceId] = []
    for i, name in enumerate(raw):
        info = job.table.get(str(name))
        if info is None:
            job.problems.append(problem_at(
                f"resource '{decl.name}': {key} names unknown resource '{name}'",
                where(decl.body.get(key), i) or where(decl.body, key),
                hint=did_you_mean(str(name), job.table)))
            continue
        out.extend(info.ids.values())
    return out


def _refs(value: Any) -> set[ResourceId]:
    if value.__class__ is dict:  # properties of plain values: no walk (once per resource)
        for v in value.values():
            if not (v is None or isinstance(v, str | int | float)):
                break
        else:
            return set()
    if isinstance(value, Deferred):
        return set(value.refs)
    if isinstance(value, Mapping):
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _protect(job: Job, decl: Decl, scope: Scope) -> bool:
    raw = decl.body.get("protect", False)
    if raw is True or raw is False:  # written as a literal (or not at all): nothing to resolve
        return raw
    value = resolve_value(job, raw, scope, where(decl.body, "protect"))
    if not isinstance(value, bool):
        job.problems.append(problem_at(f"resource '{decl.name}': protect must be true or false",
                                       where(decl.body, "protect")))
        return False
    return value


def _validate(job: Job, rid: ResourceId, props: Mapping[str, Any], loc: Loc | None,
              spec: KindSpec | None) -> None:
    if spec is None:
        return
    for message in schema_problems(spec, props):
        field = message.split("'")[1] if "'" in message else ""
        top = field.split(".")[0]
        props_raw = raw_props(job, rid)
        at = where(props_raw, top) if top in (props_raw or {}) else loc
        hint = None
        if message.startswith("unknown property") and props_raw is not None:
            names = spec.model().model_fields
            hint = did_you_mean(top, names)
        job.problems.append(problem_at(f"{rid}: {message}", at, hint=hint))
