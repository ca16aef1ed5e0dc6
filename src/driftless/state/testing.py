"""Conformance suite every state backend must pass (SQLite, S3, PostgreSQL).

I/O: only through the backends it is given. ``make_backend()`` must return a
*new client on the same store* each time it is called, so two calls stand for
two processes sharing state. Each check uses its own random stack names, so
the store may be shared between checks and need not be empty. Each check is a
small named function in ``CHECKS``; backend tests may parametrize over it for
readable ids, or call ``check_backend`` to run them all. The multi-process
race suite (``check_lock_race_processes``, in ``testing_race``) is separate:
it forks and takes tens of seconds, so each backend's tests call it once.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial

from driftless.errors import LockHeld, StateConflict, StateError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.state.base import StateBackend
from driftless.state.testing_race import check_lock_race_processes

__all__ = ["CHECKS", "Check", "MakeBackend", "check_backend", "check_lock_race_processes"]

MakeBackend = Callable[[], StateBackend]
Check = Callable[[MakeBackend], None]


@contextmanager
def _client(make_backend: MakeBackend) -> Iterator[StateBackend]:
    backend = make_backend()
    try:
        yield backend
    finally:
        backend.close()


def _stack(label: str) -> str:
    return f"conf-{label}-{uuid.uuid4().hex[:8]}"


def _sample(serial: int, lineage: str, names: tuple[str, ...]) -> StateSnapshot:
    resources = {}
    for name in names:
        rid = ResourceId("local", "file", name)
        resources[rid] = ResourceState(
            rid,
            attributes={"path": f"/srv/{name}", "size": len(name), "tags": ["a", "b"]},
            private={"inode": 42},
            inputs={"content": f"hello {name}"},
            protect=name.startswith("keep"),
            depends_on=(ResourceId("local", "dir", "srv"),),
        )
    return StateSnapshot(lineage, serial, resources, {"url": "https://x", "n": serial})


def _expect(error: type[Exception], action: Callable[[], object], why: str) -> Exception:
    try:
        action()
    except error as exc:
        return exc
    raise AssertionError(f"expected {error.__name__}: {why}")


def check_empty_read(make_backend: MakeBackend) -> None:
    """An unknown stack reads as empty and is not persisted by reading."""
    stack = _stack("empty")
    with _client(make_backend) as backend:
        snap = backend.read(stack)
        assert snap.serial == 0 and not snap.resources and not snap.outputs
        assert snap.lineage, "an empty snapshot still needs a lineage"
        assert stack not in backend.stacks(), "reading must not create a stack"


def check_round_trip(make_backend: MakeBackend) -> None:
    """What is written is read back equal, by another client too."""
    stack = _stack("trip")
    first = _sample(1, StateSnapshot.empty().lineage, ("a", "keep-b", "c"))
    with _client(make_backend) as writer:
        writer.write(stack, first)
        assert writer.read(stack) == first
    with _client(make_backend) as reader:
        assert reader.read(stack) == first


def check_write_drops_and_changes(make_backend: MakeBackend) -> None:
    """A later write removes dropped resources and replaces changed ones."""
    stack = _stack("drop")
    with _client(make_backend) as backend:
        first = _sample(1, StateSnapshot.empty().lineage, ("a", "b", "c"))
        backend.write(stack, first)
        changed = _sample(2, first.lineage, ("a", "d"))
        rid = ResourceId("local", "file", "a")
        resources = dict(changed.resources)
        resources[rid] = replace(resources[rid], attributes={"path": "/moved"})
        second = replace(changed, resources=resources, outputs={})
        backend.write(stack, second)
    with _client(make_backend) as reader:
        assert reader.read(stack) == second


def check_serial_must_follow(make_backend: MakeBackend) -> None:
    """Only stored serial + 1 is accepted: no repeats, no gaps."""
    stack = _stack("serial")
    with _client(make_backend) as backend:
        lineage = backend.read(stack).lineage
        _expect(StateConflict, lambda: backend.write(stack, _sample(2, lineage, ())),
                "a new stack must start at serial 1")
        backend.write(stack, _sample(1, lineage, ("a",)))
        for bad in (_sample(1, lineage, ()), _sample(3, lineage, ())):
            exc = _expect(StateConflict, partial(backend.write, stack, bad),
                          f"serial {bad.serial} after 1 must be refused")
            assert stack in str(exc), "the conflict must name the stack"
        backend.write(stack, _sample(2, lineage, ("b",)))
        assert backend.read(stack).serial == 2


def check_stale_writer_refused(make_backend: MakeBackend) -> None:
    """Two clients read serial 1; the second to write is refused."""
    stack = _stack("stale")
    with _client(make_backend) as one, _client(make_backend) as two:
        one.write(stack, _sample(1, StateSnapshot.empty().lineage, ("a",)))
        seen_one, seen_two = one.read(stack), two.read(stack)
        one.write(stack, seen_one.next(outputs={"by": "one"}))
        _expect(StateConflict, lambda: two.write(stack, seen_two.next(outputs={"by": "two"})),
                "a write based on a stale read must be refused")
        assert two.read(stack).outputs == {"by": "one"}


def check_foreign_lineage_refused(make_backend: MakeBackend) -> None:
    """A snapshot of another lineage never overwrites a stack."""
    stack = _stack("lineage")
    with _client(make_backend) as backend:
        mine = _sample(1, StateSnapshot.empty().lineage, ("a",))
        backend.write(stack, mine)
        foreign = _sample(2, StateSnapshot.empty().lineage, ("x",))
        _expect(StateConflict, lambda: backend.write(stack, foreign),
                "a foreign lineage must be refused")
        assert backend.read(stack) == mine


def check_stacks_listing(make_backend: MakeBackend) -> None:
    """``stacks()`` lists written stacks, sorted, seen from any client."""
    names = sorted(_stack(f"list{i}") for i in range(3))
    with _client(make_backend) as backend:
        for name in reversed(names):
            backend.write(name, _sample(1, StateSnapshot.empty().lineage, ()))
    with _client(make_backend) as other:
        listed = other.stacks()
        assert [s for s in listed if s in names] == names
        assert listed == sorted(listed), "stacks() must be sorted"


def _lock_for(operation: str, *, lease: float = 60.0) -> LockInfo:
    return LockInfo.new(operation, lease=lease)


def check_lock_race(make_backend: MakeBackend) -> None:
    """Two clients lock at once from two threads: exactly one wins."""
    stack = _stack("race")
    infos = [replace(_lock_for("apply"), who=f"racer-{i}") for i in range(2)]
    start = threading.Barrier(2)
    results: dict[int, object] = {}

    def race(i: int) -> None:
        with _client(make_backend) as backend:
            start.wait()
            try:
                results[i] = backend.lock(stack, infos[i])
            except LockHeld as exc:
                results[i] = exc

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winners = [i for i, r in results.items() if isinstance(r, str)]
    assert len(winners) == 1, f"exactly one lock must win, got {results!r}"
    loser = results[1 - winners[0]]
    assert isinstance(loser, LockHeld), f"the loser must get LockHeld, got {loser!r}"
    assert loser.info.id == infos[winners[0]].id and loser.info.who == f"racer-{winners[0]}"
    assert f"racer-{winners[0]}" in str(loser), "LockHeld must name the holder"


def check_lock_unlock(make_backend: MakeBackend) -> None:
    """lock_info shows the holder; unlock frees it; a non-holder cannot unlock."""
    stack = _stack("lock")
    info = _lock_for("plan")
    with _client(make_backend) as one, _client(make_backend) as two:
        assert one.lock_info(stack) is None
        assert one.lock(stack, info) == info.id
        held = two.lock_info(stack)
        assert held is not None and held.id == info.id and held.operation == "plan"
        _expect(LockHeld, lambda: two.lock(stack, _lock_for("apply")), "lock is held")
        exc = _expect(StateError, lambda: two.unlock(stack, "not-the-id"),
                      "unlocking someone else's lock without force must fail")
        assert info.who in str(exc), "the refusal must name the holder"
        one.unlock(stack, info.id)
        assert two.lock_info(stack) is None
        other = _lock_for("apply")
        assert two.lock(stack, other) == other.id


def check_expired_lease_taken(make_backend: MakeBackend) -> None:
    """A lease that ran out may be taken by someone else."""
    stack = _stack("expired")
    with _client(make_backend) as one, _client(make_backend) as two:
        old = _lock_for("apply", lease=0.2)
        one.lock(stack, old)
        time.sleep(0.3)
        stale = two.lock_info(stack)
        assert stale is not None and stale.id == old.id and stale.expired()
        new = _lock_for("apply")
        assert two.lock(stack, new) == new.id
        held = one.lock_info(stack)
        assert held is not None and held.id == new.id
        _expect(StateError, lambda: one.renew(stack, old.id),
                "renewing a lock that was taken over must fail")


def check_renew(make_backend: MakeBackend) -> None:
    """Renewing pushes the lease forward so it is not taken."""
    stack = _stack("renew")
    with _client(make_backend) as one, _client(make_backend) as two:
        info = _lock_for("apply", lease=0.6)
        one.lock(stack, info)
        for _ in range(4):
            time.sleep(0.25)
            one.renew(stack, info.id)
        held = two.lock_info(stack)
        assert held is not None and held.expires > info.expires + 0.5
        _expect(LockHeld, lambda: two.lock(stack, _lock_for("apply")),
                "a renewed lease must still be held")
        _expect(StateError, lambda: two.renew(stack, "someone-else"),
                "only the holder may renew")


def check_force_unlock(make_backend: MakeBackend) -> None:
    """``force`` releases a lock held by another client."""
    stack = _stack("force")
    with _client(make_backend) as one, _client(make_backend) as two:
        info = _lock_for("apply")
        one.lock(stack, info)
        two.unlock(stack, "whatever", force=True)
        assert one.lock_info(stack) is None
        _expect(StateError, lambda: one.renew(stack, info.id),
                "renewing a force-released lock must fail")


def check_writes_fenced(make_backend: MakeBackend) -> None:
    """A holder whose lock was force-unlocked or taken over cannot write state or
    journal ("lock lost"); a client that never locked still writes."""
    stack = _stack("fence")
    with _client(make_backend) as one, _client(make_backend) as two:
        first = _sample(1, StateSnapshot.empty().lineage, ("a",))
        one.write(stack, first)
        mine = _lock_for("apply")
        one.lock(stack, mine)
        one.journal(stack).begin("local:file/a", "update", {"n": 1})
        two.unlock(stack, mine.id, force=True)
        for write in (lambda: one.write(stack, first.next(outputs={"n": 2})),
                      lambda: one.journal(stack).begin("local:file/a", "update", {"n": 2})):
            exc = _expect(StateError, write, "the lock was force-unlocked")
            assert "lock lost" in str(exc), exc
        theirs = _lock_for("apply")
        two.lock(stack, theirs)
        exc = _expect(StateError, lambda: one.write(stack, first.next(outputs={"n": 3})),
                      "another client holds the lock now")
        assert "lock lost" in str(exc) and not isinstance(exc, LockHeld), exc
        two.write(stack, first.next(outputs={"n": 4}))
        two.unlock(stack, theirs.id)
    with _client(make_backend) as three:
        snap = three.read(stack)
        three.write(stack, snap.next(outputs={"n": 5}))
        assert three.read(stack).outputs["n"] == 5


def check_outcome_after_lock_lost(make_backend: MakeBackend) -> None:
    """A holder whose lock was force-unlocked still records the outcome of an intent it
    began (the side effect happened: the next run must not do it again) but starts
    nothing new; once the new holder has recovered an entry, a late outcome for it is
    refused ("lock lost")."""
    stack = _stack("outcome")
    with _client(make_backend) as one, _client(make_backend) as two:
        mine = _lock_for("apply")
        one.lock(stack, mine)
        journal = one.journal(stack)
        first = journal.begin("local:file/a", "create", {"n": 1})
        second = journal.begin("local:file/b", "create", {"n": 2})
        two.unlock(stack, mine.id, force=True)
        journal.finish(first, ok=True, live={"address": "local:file/a", "attributes": {}})
        exc = _expect(StateError, lambda: journal.begin("local:file/c", "create", {"n": 3}),
                      "a new intent after the lock was lost")
        assert "lock lost" in str(exc), exc
        a, b = two.journal(stack).entries()
        assert (a.seq, a.finished, a.ok, b.seq, b.finished) == (first, True, True, second,
                                                                False)
        theirs = _lock_for("apply")
        two.lock(stack, theirs)
        two.journal(stack).clear(second)  # the new holder recovered both entries
        exc = _expect(StateError, lambda: journal.finish(second, ok=True, live=None),
                      "an outcome for an entry the new holder already recovered")
        assert "lock lost" in str(exc), exc
        assert two.journal(stack).entries() == [], "a late outcome must not bring it back"
        two.unlock(stack, theirs.id)


def check_journal_round_trip(make_backend: MakeBackend) -> None:
    """begin/finish/entries keep order, intents and outcomes."""
    stack = _stack("journal")
    with _client(make_backend) as backend:
        journal = backend.journal(stack)
        assert journal.entries() == []
        first = journal.begin("local:file/a", "create", {"path": "/srv/a"})
        second = journal.begin("local:file/b", "delete", {"path": "/srv/b"})
        assert second > first
        journal.finish(first, ok=True, live={"address": "local:file/a", "attributes": {}})
        journal.finish(second, ok=False, live=None)
        entries = journal.entries()
    assert [e.seq for e in entries] == [first, second]
    a, b = entries
    assert (a.address, a.action, dict(a.intent)) == ("local:file/a", "create", {"path": "/srv/a"})
    assert a.finished and a.ok and a.live == {"address": "local:file/a", "attributes": {}}
    assert b.finished and not b.ok and b.live is None and b.action == "delete"


def check_journal_unfinished_visible(make_backend: MakeBackend) -> None:
    """An intent without an outcome is seen, unfinished, by another client."""
    stack = _stack("orphan")
    with _client(make_backend) as crashed:
        seq = crashed.journal(stack).begin("local:file/a", "update", {"mode": "0644"})
    with _client(make_backend) as survivor:
        entries = survivor.journal(stack).entries()
        assert [(e.seq, e.finished, e.live) for e in entries] == [(seq, False, None)]
        assert dict(entries[0].intent) == {"mode": "0644"}
        assert survivor.journal(_stack("other")).entries() == [], "journals are per stack"


def check_journal_clear(make_backend: MakeBackend) -> None:
    """clear(upto) drops entries up to and including ``upto``, only."""
    stack = _stack("clear")
    with _client(make_backend) as backend:
        journal = backend.journal(stack)
        seqs = [journal.begin(f"local:file/f{i}", "create", {}) for i in range(3)]
        journal.clear(seqs[1])
        assert [e.seq for e in journal.entries()] == [seqs[2]]
        journal.clear(seqs[2])
        assert journal.entries() == []
        later = journal.begin("local:file/g", "create", {})
        assert later > seqs[2], "sequence numbers are never reused"


CHECKS: tuple[Check, ...] = (
    check_empty_read,
    check_round_trip,
    check_write_drops_and_changes,
    check_serial_must_follow,
    check_stale_writer_refused,
    check_foreign_lineage_refused,
    check_stacks_listing,
    check_lock_race,
    check_lock_unlock,
    check_expired_lease_taken,
    check_renew,
    check_force_unlock,
    check_writes_fenced,
    check_outcome_after_lock_lost,
    check_journal_round_trip,
    check_journal_unfinished_visible,
    check_journal_clear,
)


def check_backend(make_backend: MakeBackend) -> None:
    """Run every check in ``CHECKS``; the first failure raises AssertionError."""
    for check in CHECKS:
        check(make_backend)
