"""The planner: desired x state x live reads -> Plan.

I/O: provider reads only (in a bounded thread pool, in chunks so ten
thousand cheap reads do not pay ten thousand task hand-offs). It writes
nothing and takes no locks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field, replace
from typing import Any, TypeVar, cast

from driftless.errors import DriftlessError, ProviderError
from driftless.model import (
    Action,
    Change,
    DesiredStack,
    FieldDiff,
    Graph,
    LiveResource,
    Plan,
    Resource,
    ResourceId,
    ResourceState,
    StateSnapshot,
    contains_unknown,
    deferred_refs,
    resolve,
)
from driftless.model.change import CreateDiffs
from driftless.plan.validate import check_stack
from driftless.providers import ProviderSet, comparable
from driftless.providers.compact import compact_inputs, same_inputs
from driftless.records import record

__all__ = ["PlanOptions", "in_chunks", "is_cheap", "plan_stack", "read_resources"]


@record
class PlanOptions:
    """How to plan: ``destroy`` plans deleting everything; ``refresh`` reads live."""

    destroy: bool = False
    refresh: bool = True
    workers: int = 10
    notes: tuple[str, ...] = ()
    # no-op changes already known (the clean-plan memo, ``plan.memo``): not
    # validated, read or diffed again
    settled: Mapping[ResourceId, Change] = field(default_factory=dict)


def in_chunks(items: Sequence[Any], workers: int) -> list[Sequence[Any]]:
    """Split work so each pool task carries enough to amortise its hand-off."""
    size = max(1, min(256, len(items) // (workers * 4) or 1))
    return [items[i:i + size] for i in range(0, len(items), size)]


def plan_stack(
    desired: DesiredStack,
    snapshot: StateSnapshot,
    providers: ProviderSet,
    options: PlanOptions,
) -> Plan:
    """Compute the plan for one stack."""
    deps, order = check_stack(desired, providers, snapshot.resources, options.settled)
    by_id = {r.id: r for r in desired.resources}
    wanted = [] if options.destroy else [by_id[rid] for rid in order]
    run = _Planner(snapshot, providers, options, deps)
    settled = options.settled
    lives = run.read_all([r for r in wanted if r.id not in settled] if settled else wanted)
    changes = run.diff_all(wanted, lives)
    changes.extend(_deletes(snapshot, {r.id for r in wanted}, destroy=options.destroy))
    return Plan(
        desired.name, desired.revision, desired.digest, snapshot.lineage, snapshot.serial,
        tuple(changes), destroy=options.destroy, notes=options.notes,
    )


def read_resources(
    resources: list[Resource], snapshot: StateSnapshot, providers: ProviderSet, *, workers: int,
) -> dict[ResourceId, LiveResource | None]:
    """Read resources live the way a plan does (references resolved from state,
    cheap kinds inline, the rest in the pool); for ``refresh``."""
    deps = {r.id: tuple(sorted(deferred_refs(r.properties))) for r in resources}
    return _Planner(snapshot, providers, PlanOptions(workers=workers), deps).read_all(resources)


def is_cheap(providers: ProviderSet, rid: ResourceId) -> bool:
    """Whether a kind's work is short and CPU-bound (``KindSpec.cheap``): such
    resources run in one thread; network-bound kinds (AWS) gain from a pool."""
    spec = providers.spec(rid.provider, rid.kind)
    return spec is not None and spec.cheap


_Read = tuple[ResourceId, LiveResource | None]


class _Planner:
    """One plan's shared inputs: read everything, then diff in dependency order."""

    def __init__(self, snapshot: StateSnapshot, providers: ProviderSet, options: PlanOptions,
                 deps: Mapping[ResourceId, tuple[ResourceId, ...]]) -> None:
        self.snapshot = snapshot
        self.providers = providers
        self.options = options
        self.deps = deps
        # resources holding ${res.attr} references (only those with dependencies can)
        self.deferring = {rid for rid, ds in deps.items() if ds}
        self.upstream_unknown: set[ResourceId] = set()

    def state_attrs(self, rid: ResourceId) -> Mapping[str, Any] | None:
        st = self.snapshot.get(rid)
        return st.attributes if st is not None else None

    # -- reads ----------------------------------------------------------------
    def read_all(self, wanted: list[Resource]) -> dict[ResourceId, LiveResource | None]:
        """Read every resource: cheap kinds inline, the others in the pool."""
        self.deferring = {r.id for r in wanted
                          if r.id in self.deferring and deferred_refs(r.properties)}
        # values of an upstream stack not applied yet: nothing to read or diff against
        self.upstream_unknown = {r.id for r in wanted if r.id not in self.deferring
                                 and contains_unknown(r.properties)}
        out: dict[ResourceId, LiveResource | None] = {}
        errors: list[str] = []
        self._prefetch(wanted)
        kinds: dict[tuple[str, str], bool] = {}  # asked once per kind, not per resource
        cheap: list[Resource] = []
        costly: list[Resource] = []
        for r in wanted:
            kind = (r.id.provider, r.id.kind)
            fast = kinds.get(kind)
            if fast is None:
                fast = kinds[kind] = is_cheap(self.providers, r.id)
            (cheap if fast else costly).append(r)
        for group, workers in ((cheap, 1), (costly, self.options.workers)):
            for chunk in _run_chunks(self._read_chunk, group, workers, errors):
                out.update(chunk)
        if errors:
            raise ProviderError("could not read the live state:\n  " + "\n  ".join(errors))
        return out

    def _prefetch(self, wanted: list[Resource]) -> None:
        """Tell each provider with the optional ``prefetch(resources)`` what is about to
        be read, so it can fetch many in one go (the ssh provider stats all of a
        host's files in one round trip); the reads below then use what it fetched."""
        if not self.options.refresh:
            return
        for name, group in self._readable(wanted).items():
            hook = getattr(self.providers.get(name), "prefetch", None)
            if hook is not None:
                hook(group)

    def _readable(self, resources: Sequence[Resource]) -> dict[str, list[Resource]]:
        """Those of ``resources`` a read looks at live (their values are all known), by
        provider name."""
        by_provider: dict[str, list[Resource]] = {}
        for r in resources:
            if r.id not in self.deferring and r.id not in self.upstream_unknown:
                by_provider.setdefault(r.id.provider, []).append(r)
        return by_provider

    def _read_chunk(self, chunk: Sequence[Resource]) -> list[_Read]:
        get, read = self.snapshot.resources.get, self._read_one
        absent = self._absent(chunk)
        if not absent:
            return [(r.id, read(r, get(r.id))) for r in chunk]
        return [(r.id, None if r.id in absent else read(r, get(r.id))) for r in chunk]

    def _absent(self, chunk: Sequence[Resource]) -> set[ResourceId]:
        """Resources of ``chunk`` a provider can tell are not there without reading
        each (the optional ``absent_among(resources)`` hook: the local provider looks
        at their directories once); their read would find nothing."""
        if not self.options.refresh:
            return set()
        found: set[ResourceId] = set()
        for name, group in self._readable(chunk).items():
            hook = getattr(self.providers.get(name), "absent_among", None)
            if hook is not None:
                found |= hook(group)
        return found

    def _read_one(self, res: Resource, st: ResourceState | None) -> LiveResource | None:
        prior = st.live() if st is not None else None
        if not self.options.refresh or res.id in self.upstream_unknown:
            return prior
        if res.id in self.deferring:
            props = resolve(res.properties, self.state_attrs)
            if contains_unknown(props):
                return prior
            res = replace(res, properties=props)
        return self.providers.get(res.id.provider).read(res, prior)

    # -- diffs ----------------------------------------------------------------
    def diff_all(
        self, wanted: list[Resource], lives: Mapping[ResourceId, LiveResource | None],
    ) -> list[Change]:
        """Diff in dependency order; a reference to a changing resource is unknown."""
        known: dict[ResourceId, Mapping[str, Any]] = {}
        changes: dict[ResourceId, Change] = {}
        settled = self.options.settled
        for res in wanted:
            done = settled.get(res.id)
            if done is not None:  # no triggers, no references: its no-op stands
                changes[res.id] = done
                if done.prior is not None:
                    known[res.id] = done.prior.attributes
                continue
            live = lives.get(res.id)
            change = _apply_triggers(res, self._diff_one(res, live, known), changes)
            changes[res.id] = change
            if live is not None and not change.refused:
                kept = self._known_after(change, live)
                if kept is not None:
                    known[res.id] = kept
        return list(changes.values())

    def _known_after(self, change: Change, live: LiveResource) -> Mapping[str, Any] | None:
        """The attributes dependents may rely on once ``change`` is applied: all of
        them for a no-op, those the kind keeps across an in-place update (ids, ARNs,
        names), none for a create or replace. A missing attribute reads as unknown."""
        if change.action is Action.NOOP:
            return live.attributes
        if change.action is not Action.UPDATE:
            return None
        spec = self.providers.spec(change.id.provider, change.id.kind)
        if spec is None:
            return None
        kept = spec.kept_by_update()
        return {k: v for k, v in live.attributes.items() if k in kept}

    def _diff_one(
        self, res: Resource, live: LiveResource | None,
        known: Mapping[ResourceId, Mapping[str, Any]],
    ) -> Change:
        deferred = res.id in self.deferring
        props = resolve(res.properties, known.get) if deferred else res.properties
        if res.id in self.upstream_unknown:
            change = _unknown_change(res, props, live, self._forcing(res), why=_UPSTREAM)
        elif deferred and contains_unknown(props):
            change = _unknown_change(res, props, live, self._forcing(res))
        else:
            concrete = replace(res, properties=props) if deferred else res
            change = self.providers.get(res.id.provider).diff(concrete, live)
        st = self.snapshot.get(res.id)
        if st is None and live is not None and self._owns(res):
            return _unmanaged(change, res, props, live, self.deps[res.id])
        if st is not None and change.action is Action.CREATE:
            moved = self._moved(change, res, props, st)
            if moved is not None:
                return replace(moved, desired=res, depends_on=self.deps[res.id])
        if change.action is Action.NOOP and not res.triggered_by:
            return change
        reason = _drift_reason(change, props, st.inputs if st else None, st is not None)
        diffs = _create_diffs(change, props)
        return completed(change, res, live, self.deps[res.id], reason or change.reason, diffs)


    def _owns(self, res: Resource) -> bool:
        spec = self.providers.spec(res.id.provider, res.id.kind)
        return spec is None or spec.owns_object

    def _forcing(self, res: Resource) -> frozenset[str]:
        spec = self.providers.spec(res.id.provider, res.id.kind)
        return spec.replace_on if spec is not None else frozenset()

    def _moved(self, change: Change, res: Resource, props: Mapping[str, Any],
               st: ResourceState) -> Change | None:
        """A replace-forcing property (a file's ``path``) changed: the read at the new
        identity finds nothing, but the old object is still where state says. Replace it
        (delete the old, create the new) instead of creating beside it."""
        if contains_unknown(props):
            return None
        spec = self.providers.spec(res.id.provider, res.id.kind)
        if spec is None:
            return None
        wanted = comparable(dict(props))
        short = compact_inputs(wanted)  # state may hold either form
        moved = [FieldDiff(k, st.inputs.get(k), props.get(k), forces_replace=True)
                 for k in sorted(spec.replace_on)
                 if k in st.inputs and st.inputs.get(k) not in (wanted.get(k), short.get(k))]
        if not moved:
            return None
        return replace(change, action=Action.REPLACE, prior=st.live(), diffs=tuple(moved),
                       reason=f"{', '.join(d.path for d in moved)} forces replacement")


T = TypeVar("T")


def _run_chunks(
    fn: Callable[[Sequence[Resource]], T], items: list[Resource], workers: int, errors: list[str],
) -> list[T]:
    if not items:
        return []
    if workers <= 1:
        try:
            return [fn(items)]
        except DriftlessError as exc:
            errors.append(str(exc))
            return []
    results = []
    from concurrent.futures import ThreadPoolExecutor  # only network-bound kinds get here

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for fut in [pool.submit(fn, c) for c in in_chunks(items, workers)]:
            try:
                results.append(fut.result())
            except DriftlessError as exc:
                errors.append(str(exc))
    return results


def _unmanaged(
    change: Change, res: Resource, props: Mapping[str, Any], live: LiveResource,
    deps: tuple[ResourceId, ...],
) -> Change:
    """An object exists where a resource state does not know should be: refused
    until adopted, so apply never overwrites what it does not own. ``desired``
    carries the resolved properties when all are known, so an adoption records
    them without re-resolving references at apply."""
    concrete = res if contains_unknown(props) else replace(res, properties=props)
    return replace(change, desired=concrete, prior=live, depends_on=deps,
                   unmanaged=True, refused=True)


def completed(change: Change, desired: Resource, prior: LiveResource | None,
              depends_on: tuple[ResourceId, ...], reason: str,
              diffs: tuple[FieldDiff, ...]) -> Change:
    """``replace(change, desired=..., prior=..., depends_on=..., reason=..., diffs=...)``
    without ``dataclasses.replace``'s walk of the fields (~3 us a call, once per
    resource of a first plan). Every other field is carried over; a test checks
    that none is dropped when ``Change`` grows one."""
    return Change(id=change.id, action=change.action, desired=desired, prior=prior,
                  diffs=diffs, reason=reason, refused=change.refused, depends_on=depends_on,
                  triggered_by=change.triggered_by, unmanaged=change.unmanaged,
                  adopt=change.adopt)


def _create_diffs(change: Change, props: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """A create shows every property it sets (secrets masked by FieldDiff), made
    only when something asks for them (``CreateDiffs``): a tuple in all but type."""
    if change.action is not Action.CREATE or change.diffs:
        return change.diffs
    return cast("tuple[FieldDiff, ...]", CreateDiffs(props))


_UPSTREAM = "known after apply: an upstream stack has not recorded its outputs yet"


def _unknown_change(res: Resource, props: Mapping[str, Any], live: LiveResource | None,
                    forcing: frozenset[str],
                    *, why: str = "depends on values known after apply") -> Change:
    """A change whose new values are not all known: an update, or a replacement
    when an unknown value sits in a property whose change forces one."""
    if live is None:
        reason = "does not exist yet" if why != _UPSTREAM else why
        return Change(res.id, Action.CREATE, res, None, reason=reason)
    diffs = tuple(FieldDiff(k, live.attributes.get(k), v, forces_replace=k in forcing)
                  for k, v in sorted(props.items()) if contains_unknown(v))
    forced = [d.path for d in diffs if d.forces_replace]
    if forced:
        return Change(res.id, Action.REPLACE, res, live, diffs,
                      reason=f"{', '.join(forced)} may change and would force replacement "
                             f"({why})")
    return Change(res.id, Action.UPDATE, res, live, diffs, reason=why)


def _drift_reason(
    change: Change, props: Mapping[str, Any], inputs: Mapping[str, Any] | None, managed: bool,
) -> str | None:
    if not managed or change.action is Action.NOOP:
        return None
    if change.action is Action.CREATE:
        return "drift: deleted outside driftless; will be re-created"
    if (inputs is not None and not contains_unknown(props)
            and same_inputs(comparable(dict(props)), inputs)):
        fields = ", ".join(d.path for d in change.diffs[:3])
        return f"drift: {fields} changed outside driftless"
    return None


def _apply_triggers(res: Resource, change: Change, earlier: Mapping[ResourceId, Change]) -> Change:
    if not res.triggered_by:
        return change  # nearly every resource: no generator made for nothing
    fired = tuple(t for t in res.triggered_by if t in earlier and earlier[t].is_change)
    if not fired:
        return change
    names = ", ".join(str(t) for t in fired)
    if change.action is Action.NOOP:
        return replace(change, action=Action.UPDATE, triggered_by=fired,
                       reason=f"triggered: {names} will change")
    return replace(change, triggered_by=fired)


def _deletes(snapshot: StateSnapshot, keep: set[ResourceId], *, destroy: bool) -> list[Change]:
    gone = {rid: st for rid, st in snapshot.resources.items() if rid not in keep}
    graph = Graph({rid: st.depends_on for rid, st in gone.items()})
    out = []
    for rid in reversed(graph.order()):
        st = gone[rid]
        if st.protect:
            reason = f"protected (unprotect with: driftless state unprotect {rid})"
        else:
            reason = "destroy requested" if destroy else _why_removed(rid, keep)
        out.append(Change(rid, Action.DELETE, None, st.live(), reason=reason,
                          refused=st.protect, depends_on=st.depends_on))
    return out


def _why_removed(rid: ResourceId, keep: set[ResourceId]) -> str:
    """Name the count or for_each change when siblings of the resource remain."""
    siblings = [k for k in keep if k[:3] == rid[:3]]
    if isinstance(rid.index, int) and siblings:
        return f"count of {rid.name} is now {len(siblings)}"
    if isinstance(rid.index, str) and siblings:
        return f"key '{rid.index}' is no longer in the for_each of {rid.name}"
    return "removed from the configuration"
