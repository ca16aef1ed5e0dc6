"""Carry out one change through its provider, journaled.

The journal intent is durable before the provider is called and the outcome
is recorded right after, so a crash between the two is found by the next run
(see ``apply.recover``). Failures become ``ApplyResult`` data.

The journal is state on disk too: intents carry the inputs in comparable
form (secrets as keyed digests) and the prior view, and outcomes the new
state, both secured by ``secure_live`` first, so no backend ever holds a
secret of the resource in clear.

An intent is everything recovery needs without the configuration: the new
``inputs`` (empty for a delete), the ``prior`` live view, the
``prior_inputs`` state recorded for the object (so a delete can re-read it by
its path, name, ...), and the ``lock`` that wrote it (so a recovery never
adopts the work of a holder that is still running).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from driftless.errors import DriftlessError
from driftless.model import (
    Action,
    ApplyResult,
    Change,
    LiveResource,
    LockInfo,
    Outcome,
    Resource,
    ResourceId,
    ResourceState,
    StateSnapshot,
    contains_unknown,
    deferred_refs,
    resolve,
)
from driftless.model.redact import Redactor
from driftless.model.values import plain_dict
from driftless.providers import ProviderSet, comparable
from driftless.providers.base import KindProvider, secure_live
from driftless.providers.compact import COMPACT_THRESHOLD, compact_inputs
from driftless.state import Journal
from driftless.state.packed import RowDoc

__all__ = ["ChangeRunner", "begin_all", "finish_all", "prepare"]

T = TypeVar("T")

# Outcomes are journaled every this many changes of a batch: a 10,000-file batch
# does not hold 10,000 row documents until its end, and a crash leaves fewer
# entries for recovery to re-read. (Groups of 250 made the last group's packing
# shorter, but each journal transaction rewrites its pages in the WAL: the WAL of a
# 10,000-file apply grew from 11 to 16 MB, all of it synced when state closes.)
FINISH_EVERY = 1000


class ChangeRunner:
    """Runs changes of one apply; thread-safe; collects the new resource states."""

    def __init__(self, *, providers: ProviderSet, journal: Journal, snapshot: StateSnapshot,
                 redactor: Redactor | None = None, lock: LockInfo | None = None):
        self.providers = providers
        self.lock = _lock_json(lock)
        self.redactor = redactor or Redactor()
        self.journal = journal
        self.snapshot = snapshot
        self.outcomes: dict[ResourceId, ResourceState | None] = {}
        self.last_seq = 0  # the newest journal entry this apply wrote
        self._lock = threading.Lock()
        self._secures: dict[str, bool] = {}  # provider -> its views need ``secure_live``

    def attrs(self, rid: ResourceId) -> Mapping[str, Any] | None:
        """Attributes known now: applied in this run, else recorded in state."""
        with self._lock:
            if rid in self.outcomes:
                st = self.outcomes[rid]
                return st.attributes if st is not None else None
        prior = self.snapshot.get(rid)
        return prior.attributes if prior is not None else None

    def __call__(self, batch: Sequence[Change]) -> list[ApplyResult]:
        """Apply a batch of independent changes: one journal write before, one after."""
        results: dict[ResourceId, ApplyResult] = {}
        ready: list[Change] = []
        for change in batch:
            # only a resource with dependencies can hold references to resolve (the
            # planner's ``deferring`` holds to the same): most have none, asked nothing
            if not change.depends_on or not _waits(change.desired):
                ready.append(change)  # nothing to resolve: the common case
                continue
            final = self._guarded(change, self._resolved)
            if isinstance(final, ApplyResult):
                results[change.id] = final
            elif final.action is Action.NOOP:
                results[change.id] = ApplyResult(change.id, Action.NOOP, Outcome.APPLIED,
                                                 "no change needed")
            else:
                ready.append(final)
        ran = self._run_all(ready)
        if not results:
            return ran  # every change of the batch ran, in its order
        for change, result in zip(ready, ran, strict=True):
            results[change.id] = result
        return [results[c.id] for c in batch]

    def _guarded(self, change: Change, fn: Callable[[Change], T]) -> T | ApplyResult:
        """Per-resource failures become results; a provider bug must not stop the walk."""
        start = time.monotonic()
        try:
            return fn(change)
        except Exception as exc:
            return self._failure(change, exc, start)

    def _failure(self, change: Change, exc: Exception, start: float) -> ApplyResult:
        """The failed result of ``change``: a driftless error's message, anything else
        named as unexpected; secrets of the stack masked."""
        if isinstance(exc, DriftlessError):
            msg = str(exc)
        else:
            msg = f"unexpected {type(exc).__name__}: {exc}"
        return ApplyResult(change.id, change.action, Outcome.FAILED, self.redactor.text(msg),
                           time.monotonic() - start)

    def _run_all(self, changes: list[Change]) -> list[ApplyResult]:
        if not changes:
            return []
        prepare(self.providers, changes)
        intents = _Intents(self, changes)
        pending: Outcomes = []
        results = []
        journaled = _journaling(self.journal, len(changes))
        # the last FINISH_EVERY changes are journaled in quarters: the group still to
        # pack once the last change is carried out is short
        tail, every = len(changes) - FINISH_EVERY, FINISH_EVERY
        try:
            with contextlib.closing(self._applied(changes, intents.upto)) as applied:
                for at, (change, (live, took)) in enumerate(zip(changes, applied, strict=True)):
                    intents.upto(at)  # a provider that carried it out asked already
                    address, _, intent = intents.entries[at]
                    result, state = self._outcome(change, intent["inputs"], live, took)
                    results.append(result)
                    pending.append((intents.seqs[at], result.outcome is Outcome.APPLIED,
                                    RowDoc(state, address) if state else None))
                    if at == tail:
                        every = FINISH_EVERY // 4
                    if len(pending) >= every:
                        done, pending = pending, []
                        journaled.add(done)
        finally:
            journaled.close()
            if pending:
                finish_all(self.journal, pending)
        return results

    def _applied(self, changes: list[Change], journal_upto: Callable[[int], None],
                 ) -> Generator[tuple[LiveResource | Exception | None, float], None, None]:
        """Each change carried out by its provider, in order: the new live view (or
        the exception it raised) and how long it took; ``journal_upto(i)`` is called
        before change ``i`` is (its intent is then durable). A provider that carries
        out many at once (``apply_many``: the local provider hands a large batch's
        file writes to a writer process) gets each run of its changes in one call,
        and calls ``journaled(i)`` itself before it carries out its ``i``-th."""
        at = 0
        while at < len(changes):
            provider = self.providers.get(changes[at].id.provider)
            many = getattr(provider, "apply_many", None)
            if many is None:
                journal_upto(at)
                start = time.monotonic()
                try:
                    live: LiveResource | Exception | None = provider.apply(changes[at])
                except Exception as exc:
                    live = exc
                yield live, time.monotonic() - start
                at += 1
                continue
            end = at + 1
            while end < len(changes) and changes[end].id.provider == changes[at].id.provider:
                end += 1
            start = time.monotonic()
            with contextlib.closing(many(changes[at:end], journaled=lambda i, first=at:
                                         journal_upto(first + i))) as outcomes:
                for _, live in outcomes:
                    now = time.monotonic()
                    yield live, now - start
                    start = now
            at = end

    def _outcome(
        self, change: Change, inputs: Mapping[str, Any], live: LiveResource | Exception | None,
        took: float,
    ) -> tuple[ApplyResult, ResourceState | None]:
        """The result of ``change`` and its new state, from what its provider did."""
        if isinstance(live, Exception):  # ``_guarded``, without a call per change
            return self._failure(change, live, time.monotonic() - took), None
        name = change.id.provider
        own = self._secures.get(name)
        if own is None:
            # KindProvider.apply returns secure_live of the kind's own spec already
            # (idempotent: a second walk of the properties would change nothing)
            own = self._secures[name] = type(self.providers.get(name)).apply \
                is not KindProvider.apply
        if own:
            spec = self.providers.spec(name, change.id.kind)
            live = secure_live(spec, change.desired, live)
        state = _state_of(change.desired, live, inputs, change.depends_on)
        with self._lock:
            self.outcomes[change.id] = state
        result = ApplyResult(change.id, change.action, Outcome.APPLIED, change.reason, took)
        return result, state

    def _entry(self, change: Change) -> tuple[str, str, dict[str, Any]]:
        """The journal entry of ``change``: address, action and intent, which is
        what recovery needs to re-read the object whichever way the kill fell.

        ``inputs`` are compacted (state and journal keep digests of long values,
        not file contents). ``prior_inputs`` are state's (already comparable:
        secrets as digests); a delete has no new inputs, so they are its only
        way to find the object.
        """
        res = change.desired
        intent: dict[str, Any] = {"inputs": _inputs_of(res.properties) if res else {},
                                  "prior": None}
        if change.prior is not None:
            intent["prior"] = _prior_json(self._secured(change))
        if change.action is not Action.CREATE:
            before = self.snapshot.get(change.id)
            if before is not None:
                intent["prior_inputs"] = dict(before.inputs)
        if self.lock is not None:
            intent["lock"] = self.lock
        return str(change.id), _ACTION_TEXT[change.action], intent

    def _secured(self, change: Change) -> LiveResource | None:
        """The prior view as the journal may keep it (the plan's read may predate
        a provider that secures its own reads)."""
        spec = self.providers.spec(change.id.provider, change.id.kind)
        return secure_live(spec, change.desired, change.prior)

    def _resolved(self, change: Change) -> Change:
        """Evaluate deferred properties now that dependencies are applied."""
        res = change.desired
        if res is None or not deferred_refs(res.properties):
            return change
        props = resolve(res.properties, self.attrs)
        if contains_unknown(props):
            raise DriftlessError(f"{res.id}: a referenced value is still unknown after its "
                                 "dependencies were applied")
        concrete = replace(res, properties=props)
        if change.action is Action.CREATE or change.prior is None:
            return replace(change, desired=concrete)
        fresh = self.providers.get(res.id.provider).diff(concrete, change.prior)
        if fresh.action is Action.NOOP and change.triggered_by:
            return replace(change, desired=concrete, diffs=())
        return replace(fresh, triggered_by=change.triggered_by, depends_on=change.depends_on)


def prepare(providers: ProviderSet, changes: Sequence[Change]) -> None:
    """Let each provider that can (``prepare_many``: the local one starts its writer
    process) get ready for its ``changes`` while the rest of the apply gets going;
    a failure here only costs that head start. Asking again changes nothing."""
    names = {c.id.provider for c in changes}
    for name in sorted(names):
        ready = getattr(providers.get(name), "prepare_many", None)
        if ready is not None:
            with contextlib.suppress(Exception):
                ready([c for c in changes if c.id.provider == name])


def begin_all(journal: Journal, items: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
    """Journal intents in one durable write when the backend can batch."""
    many = getattr(journal, "begin_many", None)
    if many is not None:
        return list(many(items))
    return [journal.begin(a, act, i) for a, act, i in items]


Outcomes = list[tuple[int, bool, Mapping[str, Any] | None]]


def finish_all(journal: Journal, outcomes: Outcomes) -> None:
    """Journal outcomes in one durable write when the backend can batch."""
    many = getattr(journal, "finish_many", None)
    if many is not None:
        many(outcomes)
        return
    for seq, ok, live in outcomes:
        journal.finish(seq, ok=ok, live=live)


INTENTS_EVERY = 1000
"""A batch of more than twice this many changes journals its intents at most this
many at a time, each chunk just before its first change is carried out (``_Intents``)."""

INTENTS_FIRST = 128
"""The first chunk of such a batch: the chunks then double up to ``INTENTS_EVERY``."""


class _Intents:
    """The journal intents of one batch's changes, made and journaled a chunk at a
    time just ahead of the changes carried out: a 10,000-file apply then starts
    writing after its first chunk instead of all of them (~50 ms), and journals
    the rest while the writer process writes. The first chunk is small
    (``INTENTS_FIRST``: the writer's first file waits for it) and each next one
    twice the one before, so the chunk journaled while the writer writes the one
    before never holds it up for long. Each change's intent is still durable
    before its provider is called; a run killed between chunks leaves the changes
    after them unbegun, and untouched."""

    def __init__(self, runner: ChangeRunner, changes: list[Change]) -> None:
        self.runner, self.changes = runner, changes
        large = len(changes) > 2 * INTENTS_EVERY
        self.every = INTENTS_EVERY if large else len(changes)
        self.next = min(INTENTS_FIRST, self.every) if large else self.every
        self.entries: list[tuple[str, str, dict[str, Any]]] = []
        self.seqs: list[int] = []

    def upto(self, index: int) -> None:
        """Journal the intents of every change up to ``index`` (by whole chunks)."""
        while len(self.seqs) <= index:
            start, size = len(self.seqs), self.next
            self.next = min(2 * size, self.every)
            chunk = [self.runner._entry(c) for c in self.changes[start:start + size]]
            seqs = begin_all(self.runner.journal, chunk)
            self.entries += chunk
            self.seqs += seqs
            with self.runner._lock:
                self.runner.last_seq = max(self.runner.last_seq, *seqs)


# A batch of at least this many changes has its state rows encoded and packed by a
# helper process (``apply.packing``): ~10 us a row the runner then spends on the next ones.
PACK_MIN = 2000


class _Inline:
    """Outcomes journaled as they come: a batch too small for the packing helper, or a
    journal that stores rows its own way (``takes_packed`` unset: encrypted state)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def add(self, outcomes: Outcomes) -> None:
        """Journal ``outcomes`` now."""
        finish_all(self.journal, outcomes)

    def close(self) -> None:
        """Nothing is held back."""


def _journaling(journal: Journal, changes: int) -> Any:
    """How a batch of ``changes`` journals its outcomes: inline, or with their rows
    packed by a helper process meanwhile (``apply.packing``, loaded only then)."""
    if changes >= PACK_MIN and getattr(journal, "takes_packed", False):
        from driftless.apply.packing import PackingJournal

        return PackingJournal(lambda outcomes: finish_all(journal, outcomes))
    return _Inline(journal)


_PLAIN = frozenset({int, float, bool, type(None)})
_ACTION_TEXT = {action: action.value for action in Action}  # ``.value`` is a descriptor call


def _waits(res: Resource | None) -> bool:
    """Whether ``res`` has properties to resolve once its dependencies are applied
    (a dict of plain values, most resources' properties, has none: no walk)."""
    if res is None:
        return False
    return not plain_dict(res.properties) and bool(deferred_refs(res.properties))


def _inputs_of(props: Mapping[str, Any]) -> dict[str, Any]:
    """``compact_inputs(comparable(props))``, with plain top-level values (most
    properties: paths, flags, short strings) taken as they are, unwalked, and a
    long plain string (a file's content) compacted without ``comparable``'s
    checks (a str is its own comparable form)."""
    out: dict[str, Any] = {}
    for key, value in props.items():
        kind = value.__class__
        if kind in _PLAIN or (kind is str and len(value) <= COMPACT_THRESHOLD):
            out[key] = value
        elif kind is str:
            out[key] = compact_inputs(value)
        else:
            out[key] = compact_inputs(comparable(value))
    return out


def _prior_json(prior: LiveResource | None) -> dict[str, Any] | None:
    if prior is None:
        return None
    return {"attributes": dict(prior.attributes), "private": dict(prior.private)}


def _lock_json(lock: LockInfo | None) -> dict[str, Any] | None:
    """The holder as intents record it: enough to tell later whether it still runs."""
    if lock is None:
        return None
    return {"id": lock.id, "who": lock.who, "pid": lock.pid, "created": lock.created,
            "expires": lock.expires}


def _state_of(
    desired: Resource | None, live: LiveResource | None, inputs: Mapping[str, Any],
    deps: tuple[ResourceId, ...],
) -> ResourceState | None:
    if desired is None or live is None:
        return None
    return ResourceState(desired.id, live.attributes, live.private, inputs, desired.protect, deps)
