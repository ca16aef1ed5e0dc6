"""The engine: plan, apply, refresh, import — pure orchestration.

It takes no locks (the CLI and the agent hold the stack lock around every
call) and knows nothing of Git or the command line. State is written once
per apply from the journal's results; the journal itself makes every single
side effect durable as it happens.

State never keeps a secret of a resource in clear: every live view stored
(apply, refresh, import, recovery) goes through ``secure_live``, and a plan
first rewrites what older versions stored (clear secrets, digests made with
the old compiled-in key) so the stack does not show a spurious diff.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from driftless.apply import walk
from driftless.apply.recover import check_holders, fold_journal
from driftless.apply.runner import ChangeRunner, prepare
from driftless.errors import ConfigError, DriftlessError, ProviderError, StalePlanError
from driftless.model import (
    Action,
    ApplyResult,
    Change,
    DesiredStack,
    FieldDiff,
    Health,
    HealthCode,
    Outcome,
    Plan,
    Resource,
    ResourceId,
    ResourceState,
    StateSnapshot,
    mask,
    resolve,
)
from driftless.model.gcpause import gc_paused as _gc_paused
from driftless.model.redact import (
    Redactor,
    digest_candidates,
    has_legacy_digest,
    rekey,
    secret_texts,
)
from driftless.plan import PlanOptions, is_cheap, plan_stack, read_resources
from driftless.plan.memo import (
    CleanMemo,
    StoredRows,
    clean_plan,
    no_op_keys,
    settled_changes,
    stored_rows,
    worth_remembering,
)
from driftless.providers import ProviderSet, comparable
from driftless.providers.base import rekey_live, secure_live
from driftless.providers.compact import compact_inputs, readable_inputs
from driftless.records import record
from driftless.state import StateBackend

__all__ = ["ApplyReport", "Engine"]


@record
class ApplyReport:
    """What an apply did: the plan, each resource's result, the new state."""

    plan: Plan
    results: tuple[ApplyResult, ...]
    snapshot: StateSnapshot

    @property
    def ok(self) -> bool:
        """True when no resource failed or was skipped."""
        return all(r.outcome is Outcome.APPLIED for r in self.results)

    def failed(self) -> list[ApplyResult]:
        """Failed and skipped results."""
        return [r for r in self.results if r.outcome is not Outcome.APPLIED]


def _redactor(desired: DesiredStack) -> Redactor:
    """Masks the stack's secrets in messages a provider wrote (paths, commands, logs)."""
    return Redactor([r.properties for r in desired.resources], desired.outputs)


class Engine:
    """Plans and applies stacks against one state backend and provider set."""

    def __init__(self, *, providers: ProviderSet, backend: StateBackend, workers: int = 10,
                 memo: CleanMemo | None = None):
        self.providers = providers
        self.backend = backend
        self.workers = workers
        self.memo = memo  # None: every plan reads and diffs everything

    # -- recovery ---------------------------------------------------------
    def recover(self, stack: str, desired: DesiredStack | None = None) -> list[str]:
        """Fold an interrupted apply's journal into state; notes say what was repaired.

        ``desired`` lends its secrets, so an adopted object's attributes keep
        none in clear. Unfinished entries of another holder that still runs
        are refused, and a failed repair raises before anything is written:
        the journal keeps every entry for the next run.
        """
        journal = self.backend.journal(stack)
        entries = journal.entries()
        if not entries:
            return []
        check_holders(entries, self.backend.lock_info(stack))
        snap = self.backend.read(stack)
        wanted = {r.id: r for r in desired.resources} if desired is not None else None
        resources, notes = fold_journal(snap, entries, self.providers, wanted)
        self.backend.write(stack, snap.next(resources))
        journal.clear(entries[-1].seq)
        return notes or ["state updated from the journal of an interrupted apply"]

    # -- plan ---------------------------------------------------------------
    def plan(self, desired: DesiredStack, *, destroy: bool = False, refresh: bool = True) -> Plan:
        """The plan for ``desired``; the caller holds the stack lock."""
        with _gc_paused():
            notes = tuple(self.recover(desired.name, desired))
            stored = self.backend.read(desired.name)
            memo = self.memo if refresh and not destroy and not notes else None
            # nothing in state and something to create (a first apply) is never a clean
            # plan: no lookup, so the render's digest is not waited for here
            entry = (memo.name(desired, stored) if memo is not None
                     and (stored.resources or not desired.resources) else None)
            if memo is not None and entry is not None and memo.holds(entry):
                quick = self._clean_plan(desired, stored)
                if quick is not None:
                    return quick
            rows = stored_rows(self.backend, desired.name) if memo is not None else {}
            settled, keys = self._settled(memo, desired, stored, rows)
            snapshot, moved = self._migrate(desired, stored, settled=settled)
            notes += moved
            options = PlanOptions(destroy=destroy, refresh=refresh, workers=self.workers,
                                  notes=notes, settled=settled)
            try:
                the_plan = plan_stack(desired, snapshot, self.providers, options)
            except DriftlessError as exc:
                raise _redactor(desired).error(exc) from None
            if memo is not None and entry is not None:
                if worth_remembering(the_plan, desired, snapshot):
                    memo.remember(entry)
                memo.remember_resources(desired.name, no_op_keys(
                    the_plan, desired, stored, snapshot, keys, settled, rows))
            return the_plan

    def _settled(
        self, memo: CleanMemo | None, desired: DesiredStack, stored: StateSnapshot,
        rows: StoredRows,
    ) -> tuple[dict[ResourceId, Change], dict[ResourceId, bytes]]:
        """The resources whose no-op the last full plan already found (``plan.memo``)
        and their keys; none without a memo or when a stat is refused."""
        if memo is None:
            return {}, {}
        keys: dict[ResourceId, bytes] = {}
        try:
            settled = settled_changes(desired, stored, self.providers,
                                      memo.no_op_resources(desired.name), keys, rows)
        except DriftlessError:
            return {}, {}
        return settled, keys

    def _clean_plan(self, desired: DesiredStack, stored: StateSnapshot) -> Plan | None:
        """The remembered no-op plan, if every object is still as state recorded it;
        a failure to tell (a stat refused) leaves it to the full plan to report."""
        try:
            return clean_plan(desired, stored, self.providers)
        except DriftlessError:
            return None

    def _migrate(
        self, desired: DesiredStack, snap: StateSnapshot,
        settled: Mapping[ResourceId, Change] | None = None,
    ) -> tuple[StateSnapshot, tuple[str, ...]]:
        """Rewrite state that an older version stored with secrets in clear or with
        digests of the old compiled-in key, once, so nothing looks changed.

        It runs under the plan's lock like ``recover``, and writes only when
        something needed rewriting.
        """
        known = snap.resources
        moved: dict[ResourceId, ResourceState] = {}  # no copy of the whole state per plan
        for res in desired.resources:
            if settled and res.id in settled:
                continue  # this very row needed no rewriting when it was planned last
            st = known.get(res.id)
            secured = self._secured_state(res, st) if st is not None else None
            if secured is not None and secured is not st:
                moved[res.id] = secured
        if not moved:
            return snap, ()
        new = snap.next({**known, **moved})
        self.backend.write(desired.name, new)
        return new, (f"state of {len(moved)} resource(s) rewritten: secrets kept only as digests "
                     "under the current digest key",)

    def _secured_state(self, res: Resource, st: ResourceState) -> ResourceState:
        spec = self.providers.spec(res.id.provider, res.id.kind)
        if not (spec and spec.sensitive_attributes) and not secret_texts(res.properties) \
                and not has_legacy_digest(st.attributes, st.private, st.inputs):
            return st  # nothing to rewrite: the common case, asked per resource per plan
        prior = st.live()
        live = secure_live(spec, res, rekey_live(res, prior)) or prior
        legacy = has_legacy_digest(st.inputs)
        inputs = rekey(st.inputs, digest_candidates(res.properties)) if legacy else st.inputs
        if live is prior and inputs is st.inputs:
            return st
        return replace(st, attributes=live.attributes, private=live.private, inputs=inputs)

    # -- apply --------------------------------------------------------------
    def apply(
        self, plan: Plan, desired: DesiredStack, *,
        on_result: Callable[[ApplyResult], None] | None = None,
    ) -> ApplyReport:
        """Carry out ``plan``; refuses when state or config moved since it was made."""
        with _gc_paused():
            # helpers start (a large apply's file writer) while state is read and the
            # walk is set up, for the changes the walk's first batch holds (those that
            # depend on nothing): the first write then finds its writer ready, and a
            # chain of changes, applied one at a time, starts none
            prepare(self.providers, [c for c in plan.pending() if not c.depends_on])
            snapshot = self._check_fresh(plan, desired)
            runner = ChangeRunner(providers=self.providers,
                                  journal=self.backend.journal(plan.stack), snapshot=snapshot,
                                  redactor=_redactor(desired),
                                  lock=self.backend.lock_info(plan.stack))
            results = self._walk(plan, runner, on_result)
            new = self._commit(plan, desired, snapshot, runner)
            return ApplyReport(plan, tuple(results), new)

    def _check_fresh(self, plan: Plan, desired: DesiredStack) -> StateSnapshot:
        snapshot = self.backend.read(plan.stack)
        if snapshot.serial == 0 == plan.serial:
            # a stack never written has no lineage yet: adopt the plan's
            snapshot = replace(snapshot, lineage=plan.lineage)
        if (snapshot.lineage, snapshot.serial) != (plan.lineage, plan.serial):
            raise StalePlanError(
                f"stack '{plan.stack}': the state changed since this plan was made "
                f"(serial {plan.serial} -> {snapshot.serial})",
                hint="run plan again and review the new plan",
            )
        if desired.digest != plan.digest:
            raise StalePlanError(
                f"stack '{plan.stack}': the configuration changed since this plan was made",
                hint="run plan again and review the new plan",
            )
        refused = [c for c in plan.refused() if not plan.destroy]
        unmanaged = [c for c in refused if c.unmanaged]
        if unmanaged:
            names = ", ".join(str(c.id) for c in unmanaged)
            raise ConfigError(
                f"refusing to apply: {names} exist(s) but are not managed",
                hint="review them, then import them (driftless import ADDRESS ID) or "
                     "plan/apply with --adopt")
        if refused:
            names = ", ".join(str(c.id) for c in refused)
            raise ConfigError(
                f"refusing to apply: the plan deletes protected resource(s) {names}",
                hint=f"restore them to the configuration, or run: driftless state unprotect "
                     f"{refused[0].id}",
            )
        return snapshot

    def _walk(
        self, plan: Plan, runner: ChangeRunner,
        on_result: Callable[[ApplyResult], None] | None,
    ) -> list[ApplyResult]:
        todo = plan.pending()
        ups = [c for c in todo if c.action is not Action.DELETE]
        downs = [c for c in todo if c.action is Action.DELETE]
        kinds: dict[tuple[str, str], bool] = {}

        def cheap(change: Change) -> bool:
            rid = change.id
            known = kinds.get((rid.provider, rid.kind))
            if known is None:
                known = kinds[rid.provider, rid.kind] = is_cheap(self.providers, rid)
            return known

        results = walk(ups, None, runner,  # each change's own depends_on
                       workers=self.workers, on_result=on_result, cheap=cheap)
        # deletes run after creates, dependents first: reverse the edges
        rev: dict[ResourceId, list[ResourceId]] = {c.id: [] for c in downs}
        for c in downs:
            for d in c.depends_on:
                if d in rev:
                    rev[d].append(c.id)
        results += walk(downs, rev, runner, workers=self.workers, on_result=on_result,
                        cheap=cheap)
        return results

    def _commit(
        self, plan: Plan, desired: DesiredStack, snapshot: StateSnapshot, runner: ChangeRunner,
    ) -> StateSnapshot:
        resources = dict(snapshot.resources)
        for rid, st in runner.outcomes.items():
            if st is None:
                resources.pop(rid, None)
            else:
                resources[rid] = st
        _sync_protect(resources, desired, plan.destroy)
        outputs = {} if plan.destroy else _outputs(desired, resources)
        new = snapshot.next(resources, outputs)
        self.backend.write(plan.stack, new)
        if runner.last_seq:
            # everything this apply journaled is in the snapshot now
            self.backend.journal(plan.stack).clear(runner.last_seq)
        return new

    # -- refresh, import, health, outputs ------------------------------------
    def refresh(self, desired: DesiredStack) -> tuple[list[Change], StateSnapshot]:
        """Read every managed resource; record what drifted; update state."""
        self.recover(desired.name, desired)
        snap = self.backend.read(desired.name)
        by_id = {r.id: r for r in desired.resources}
        managed = [by_id.get(rid) or Resource(rid, readable_inputs(st.inputs))
                   for rid, st in sorted(snap.resources.items())]
        with _gc_paused():
            lives = read_resources(managed, snap, self.providers, workers=self.workers)
        lives = {r.id: secure_live(self.providers.spec(r.id.provider, r.id.kind), r,
                                   lives.get(r.id)) for r in managed}
        drift: list[Change] = []
        resources = dict(snap.resources)
        for rid, st in sorted(snap.resources.items()):
            live = lives.get(rid)
            change = _drift_of(st, live)
            if change is None:
                continue
            drift.append(change)
            if live is None:
                resources.pop(rid)
            else:
                resources[rid] = replace(st, attributes=live.attributes, private=live.private)
        if not drift:
            return drift, snap
        new = snap.next(resources)
        self.backend.write(desired.name, new)
        return drift, new

    def import_resource(
        self, desired: DesiredStack, rid: ResourceId, import_id: str,
    ) -> ResourceState:
        """Adopt an existing object as ``rid`` (which must be in the configuration)."""
        res = next((r for r in desired.resources if r.id == rid), None)
        if res is None:
            raise ConfigError(f"{rid} is not declared in stack '{desired.name}'",
                              hint="add the resource to the stack first, then import it")
        snap = self.backend.read(desired.name)
        if snap.get(rid) is not None:
            raise ConfigError(f"{rid} is already managed", hint="use 'driftless refresh' instead")
        props = resolve(res.properties, lambda d: _attrs(snap.resources, d))
        live = self.providers.get(rid.provider).import_resource(replace(res, properties=props),
                                                                import_id)
        if live is None:
            raise ProviderError(f"nothing found to import with id '{import_id}'", resource=rid)
        live = secure_live(self.providers.spec(rid.provider, rid.kind), res, live) or live
        st = ResourceState(rid, live.attributes, live.private,
                           compact_inputs(comparable(dict(props))),
                           res.protect, res.depends_on)
        self.backend.write(desired.name, snap.next({**snap.resources, rid: st}))
        return st

    def health(self, stack: str) -> dict[ResourceId, Health]:
        """Each managed resource's health from its provider."""
        snap = self.backend.read(stack)
        out = {}
        for rid, st in sorted(snap.resources.items()):
            try:
                out[rid] = self.providers.get(rid.provider).health(st.live())
            except ProviderError as exc:
                out[rid] = Health(HealthCode.UNKNOWN, str(exc))
        return out

    def outputs(self, stack: str) -> Mapping[str, Any]:
        """The stack's recorded outputs."""
        return self.backend.read(stack).outputs


def _attrs(
    resources: Mapping[ResourceId, ResourceState], rid: ResourceId,
) -> Mapping[str, Any] | None:
    st = resources.get(rid)
    return st.attributes if st is not None else None


def _sync_protect(resources: dict[ResourceId, ResourceState], desired: DesiredStack,
                  destroy: bool) -> None:
    """Keep state's protect flag in step with the config for unchanged resources."""
    if destroy:
        return
    for res in desired.resources:
        st = resources.get(res.id)
        if st is not None and res.protect and not st.protect:
            resources[res.id] = replace(st, protect=True)


def _outputs(
    desired: DesiredStack, resources: Mapping[ResourceId, ResourceState],
) -> dict[str, Any]:
    values = resolve(dict(desired.outputs), lambda d: _attrs(resources, d))
    return dict(mask(values))


def _drift_of(st: ResourceState, live: Any) -> Change | None:
    if live is None:
        return Change(st.id, Action.DELETE, None, st.live(), reason="deleted outside driftless")
    keys = sorted(set(st.attributes) | set(live.attributes))
    diffs = tuple(FieldDiff(k, st.attributes.get(k), live.attributes.get(k)) for k in keys
                  if st.attributes.get(k) != live.attributes.get(k))
    if not diffs:
        return None
    return Change(st.id, Action.UPDATE, None, st.live(), diffs,
                  reason=f"drift: {', '.join(d.path for d in diffs[:3])} changed outside driftless")
