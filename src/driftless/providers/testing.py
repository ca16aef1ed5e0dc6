"""The provider conformance suite: one life cycle every provider must pass.

A provider's own tests call ``check_provider(provider, cases)`` against a
real endpoint (the local machine, a real sshd, a moto server). Each case
walks: kind and schema exist → read before create is None → diff says
CREATE → apply → read gives the same object → diff NOOP → applying the
no-op changes nothing → diff against ``updated`` is UPDATE/REPLACE → apply →
NOOP again (an UPDATE kept what ``update_changes`` says it keeps) → import
by id finds it → delete → read None → delete again is harmless.
I/O: whatever the provider under test does; nothing of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from driftless.model import Action, Change, LiveResource, Resource
from driftless.providers.base import Provider, schema_problems
from driftless.records import record

__all__ = ["ConformanceCase", "ConformanceFailure", "check_provider"]


@record
class ConformanceCase:
    """One resource's life cycle.

    ``updated`` is the same resource with a change that must plan as UPDATE or
    REPLACE; ``import_id`` is what ``driftless import`` would be given (None:
    the kind cannot be imported); ``cleanup`` runs at the end, pass or fail.
    ``owns_object`` False is for kinds that observe but never own their object
    (``marker_wait``): the object outlives a delete, so that check is skipped.
    """

    resource: Resource
    updated: Resource
    import_id: str | None = None
    cleanup: Callable[[], None] | None = None
    owns_object: bool = True

    @property
    def name(self) -> str:
        """The case's name in failure messages: the resource address."""
        return str(self.resource.id)


class ConformanceFailure(AssertionError):
    """A provider broke the contract; the message names case and step."""


class _Walk:
    """The steps of one case, each failing with ``case: step: what``."""

    def __init__(self, provider: Provider, case: ConformanceCase) -> None:
        self.p = provider
        self.case = case

    def fail(self, step: str, message: str) -> ConformanceFailure:
        return ConformanceFailure(f"{self.case.name}: {step}: {message}")

    def check(self, ok: bool, step: str, message: str) -> None:
        if not ok:
            raise self.fail(step, message)

    def call(self, step: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except ConformanceFailure:
            raise
        except Exception as exc:
            raise self.fail(step, f"raised {type(exc).__name__}: {exc}") from exc

    def kind_exists(self, resource: Resource) -> None:
        spec = self.p.kinds().get(resource.id.kind)
        self.check(spec is not None, "kinds", f"kind '{resource.id.kind}' is not in kinds()")
        assert spec is not None
        problems = schema_problems(spec, resource.properties)
        self.check(not problems, "schema", f"schema rejects the properties: {problems}")

    def diff(self, step: str, desired: Resource, live: LiveResource | None,
             allowed: tuple[Action, ...]) -> Change:
        change: Change = self.call(step, self.p.diff, desired, live)
        self.check(change.action in allowed, step,
                   f"expected {'/'.join(a.value for a in allowed)}, got {change.action.value}"
                   f" ({change.reason}; diffs {[d.path for d in change.diffs]})")
        return change

    def apply(self, step: str, change: Change) -> LiveResource:
        live = self.call(step, self.p.apply, change)
        self.check(isinstance(live, LiveResource), step, f"apply returned {live!r}")
        assert isinstance(live, LiveResource)
        self.check(live.id == change.id, step, f"apply returned id {live.id}")
        return live

    def read_same(self, step: str, resource: Resource, live: LiveResource) -> LiveResource:
        again = self.call(step, self.p.read, resource, live)
        self.check(again is not None, step, "read returned None right after apply")
        _same_attrs(self, step, live.attributes, again.attributes)
        return again  # type: ignore[no-any-return]

    def converge(self, label: str, resource: Resource, live: LiveResource) -> LiveResource:
        """After an apply: read → same object, diff → NOOP, applying the no-op is inert."""
        seen = self.read_same(f"read after {label}", resource, live)
        noop = self.diff(f"diff after {label}", resource, seen, (Action.NOOP,))
        self.call(f"apply no-op after {label}", self.p.apply, noop)
        again = self.read_same(f"read after no-op {label}", resource, seen)
        self.diff(f"second diff after {label}", resource, again, (Action.NOOP,))
        return again

    def run(self) -> None:
        case = self.case
        self.kind_exists(case.resource)
        self.kind_exists(case.updated)
        before = self.call("read before create", self.p.read, case.resource, None)
        self.check(before is None, "read before create", f"expected None, got {before!r}")
        create = self.diff("diff before create", case.resource, None, (Action.CREATE,))
        live = self.converge("create", case.resource, self.apply("create", create))
        change = self.diff("diff to updated", case.updated, live,
                           (Action.UPDATE, Action.REPLACE))
        updated = self.converge("update", case.updated, self.apply("update", change))
        if change.action is Action.UPDATE:
            self.kept_across_update(case.updated, live, updated)
        live = updated
        self.imported(live)
        self.deleted(live)

    def kept_across_update(self, resource: Resource, before: LiveResource,
                           after: LiveResource) -> None:
        """What the kind says an update keeps (``KindSpec.update_changes``) must be
        kept: the planner shows dependents of an update as unchanged on that claim."""
        spec = self.p.kinds()[resource.id.kind]
        kept = spec.kept_by_update()
        moved = sorted(k for k in kept if k in before.attributes
                       and before.attributes.get(k) != after.attributes.get(k))
        self.check(not moved, "attributes kept by update",
                   f"{moved} changed in an in-place update, but the kind's update_changes "
                   "says they are kept")

    def imported(self, live: LiveResource) -> None:
        if self.case.import_id is None:
            return
        found = self.call("import", self.p.import_resource, self.case.updated,
                          self.case.import_id)
        self.check(found is not None, "import", f"import of {self.case.import_id!r} found nothing")
        _same_attrs(self, "import", live.attributes, found.attributes)

    def deleted(self, live: LiveResource) -> None:
        delete = Change(live.id, Action.DELETE, None, live, reason="conformance delete")
        gone = self.call("delete", self.p.apply, delete)
        self.check(gone is None, "delete", f"apply(DELETE) returned {gone!r}, expected None")
        if self.case.owns_object:
            after = self.call("read after delete", self.p.read, self.case.updated, None)
            self.check(after is None, "read after delete", f"still there: {after!r}")
        self.call("delete again", self.p.apply, delete)


def _same_attrs(walk: _Walk, step: str, want: Mapping[str, Any], got: Mapping[str, Any]) -> None:
    moved = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    walk.check(not moved, step, f"attributes differ from the applied object: {moved}")


def check_provider(provider: Provider, cases: Sequence[ConformanceCase]) -> None:
    """Run every case's life cycle; raise ``ConformanceFailure`` on the first break."""
    for case in cases:
        try:
            _Walk(provider, case).run()
        finally:
            if case.cleanup is not None:
                case.cleanup()
