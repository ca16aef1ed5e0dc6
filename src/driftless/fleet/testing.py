"""The conformance suite every coordinator passes (memory, etcd, DynamoDB, PostgreSQL).

I/O: only through the coordinators ``make`` returns, and ``wait`` (a real
sleep, or a simulated clock's advance) for lease expiry. Each check gets a
fresh coordinator (its own namespace) and raises ``AssertionError`` with a
sentence when the backend breaks the contract.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from driftless.fleet.audit import concurrency
from driftless.fleet.base import (
    Coordinator,
    Halt,
    LeaseLost,
    Member,
    Report,
    RolloutRecord,
    SlotLost,
)

__all__ = ["CHECKS", "check_coordinator", "check_race"]

Make = Callable[[], Coordinator]
Wait = Callable[[float], None]


def _rollout(coord: Coordinator, slots: int = 2) -> str:
    name = "r" + uuid.uuid4().hex[:10]
    coord.open_rollout(RolloutRecord(name, slots=slots, canary=("n0",), failure_threshold=2))
    return name


def membership(coord: Coordinator, wait: Wait) -> None:
    """Members appear with their tags and go with their lease."""
    a, b = coord.grant("n-a", ttl=10), coord.grant("n-b", ttl=10)
    coord.join(a, Member("n-a", {"role": "worker"}, "rev1"))
    coord.join(b, Member("n-b", {"role": "worker", "gpu": "l4"}))
    found = {m.node: m for m in coord.members()}
    assert set(found) == {"n-a", "n-b"}, f"members: {sorted(found)}"
    assert found["n-b"].tags == {"role": "worker", "gpu": "l4"}, found["n-b"]
    assert found["n-a"].revision == "rev1"
    coord.keepalive(a)
    coord.revoke(b)
    assert [m.node for m in coord.members()] == ["n-a"], "a revoked lease keeps its member"


def rollout_record(coord: Coordinator, wait: Wait) -> None:
    """The first record of a rollout wins; later opens get it back."""
    first = RolloutRecord("rfirst", slots=3, canary=("n1", "n2"), failure_threshold=4)
    assert coord.open_rollout(first) == first
    assert coord.open_rollout(RolloutRecord("rfirst", slots=9)) == first
    assert coord.rollout("rfirst") == first
    assert coord.rollout("rnone") is None
    assert "rfirst" in {r.rollout for r in coord.rollouts()}


def slot_limit(coord: Coordinator, wait: Wait) -> None:
    """No more slots than the record says; tokens grow; a holder gets its slot back."""
    rollout = _rollout(coord, slots=2)
    leases = [coord.grant(f"n{i}", ttl=10) for i in range(3)]
    s0 = coord.acquire(rollout, leases[0])
    s1 = coord.acquire(rollout, leases[1])
    assert s0 is not None and s1 is not None, "two free slots not granted"
    assert s0.index != s1.index
    assert coord.acquire(rollout, leases[2]) is None, "a third slot was granted (limit 2)"
    assert coord.acquire(rollout, leases[0]) == s0, "a holder asking again got another slot"
    assert {s.node for s in coord.slots(rollout)} == {"n0", "n1"}
    coord.release(s0)
    s2 = coord.acquire(rollout, leases[2])
    assert s2 is not None and s2.index == s0.index, "a released slot was not granted again"
    assert s2.token > s0.token, f"the slot's token did not grow: {s0.token}, {s2.token}"


def fencing(coord: Coordinator, wait: Wait) -> None:
    """A release or report under a stale token changes nothing."""
    rollout = _rollout(coord, slots=1)
    a, b = coord.grant("n-a", ttl=10), coord.grant("n-b", ttl=10)
    old = coord.acquire(rollout, a)
    assert old is not None
    coord.report(rollout, Report("n-a", "applying", token=old.token), slot=old)
    coord.release(old)
    new = coord.acquire(rollout, b)
    assert new is not None and new.token > old.token, "a slot's token did not grow"
    coord.release(old)  # stale: must not free b's slot
    assert [s.node for s in coord.slots(rollout)] == ["n-b"], "a stale release freed a slot"
    try:
        coord.report(rollout, Report("n-a", "healthy", token=old.token), slot=old)
    except SlotLost:
        pass
    else:
        raise AssertionError("a report under a lost slot was accepted")
    assert coord.reports(rollout)["n-a"].phase == "applying"
    coord.report(rollout, Report("n-b", "healthy", token=new.token), slot=new)
    assert coord.reports(rollout)["n-b"].phase == "healthy"


def halts(coord: Coordinator, wait: Wait) -> None:
    """The first halt wins; resume clears it and the failed reports."""
    rollout = _rollout(coord)
    first = coord.halt(Halt(rollout, "canary n0 failed", by="n0"))
    assert coord.halt(Halt(rollout, "other", by="n9")) == first
    assert coord.halted(rollout) == first
    coord.report(rollout, Report("n0", "failed", "health timed out"))
    coord.report(rollout, Report("n1", "healthy"))
    assert coord.resume(rollout) is True
    assert coord.halted(rollout) is None
    assert set(coord.reports(rollout)) == {"n1"}, "resume kept a failed report"
    assert coord.resume(rollout) is False


def history(coord: Coordinator, wait: Wait) -> None:
    """Every grant and release is in the history, in order."""
    rollout = _rollout(coord, slots=2)
    leases = [coord.grant(f"n{i}", ttl=10) for i in range(4)]
    for lease in leases:
        slot = coord.acquire(rollout, lease)
        assert slot is not None
        coord.release(slot)
    s = coord.acquire(rollout, leases[0])
    assert s is not None
    audit = concurrency(coord.history(rollout))
    assert audit.grants == 5 and audit.ends == 4, audit
    assert audit.peak == 1 and not audit.problems, audit
    assert audit.still_held == (s.index,), audit


def expiry(coord: Coordinator, wait: Wait) -> None:
    """A node that stops renewing loses membership and slot; the slot is granted again."""
    rollout = _rollout(coord, slots=1)
    dying, other = coord.grant("n-dies", ttl=2), coord.grant("n-other", ttl=30)
    coord.join(dying, Member("n-dies"))
    slot = coord.acquire(rollout, dying)
    assert slot is not None
    wait(4.0)
    assert "n-dies" not in {m.node for m in coord.members()}, "expired member still listed"
    assert coord.slots(rollout) == [], "expired slot still held"
    try:
        coord.keepalive(dying)
    except LeaseLost:
        pass
    else:
        raise AssertionError("keepalive of an expired lease succeeded")
    taken = coord.acquire(rollout, other)
    assert taken is not None and taken.index == slot.index and taken.token > slot.token
    audit = concurrency(coord.history(rollout))
    assert audit.peak == 1 and not audit.problems, audit


CHECKS: tuple[Callable[[Coordinator, Wait], None], ...] = (
    membership, rollout_record, slot_limit, fencing, halts, history, expiry)


def check_coordinator(make: Make, wait: Wait, *, only: str | None = None) -> None:
    """Run every check (or the one named ``only``) on fresh coordinators."""
    for check in CHECKS:
        if only is not None and check.__name__ != only:
            continue
        coord = make()
        try:
            check(coord, wait)
        finally:
            coord.close()


def check_race(make_shared: Make, *, threads: int = 6, rounds: int = 4) -> None:
    """Several clients (each from ``make_shared``, all on one namespace) race for 2 slots
    from threads, holding and releasing; the store's history must never show more than
    2 held at once, nor a slot granted twice or a token that does not grow."""
    import threading

    setup = make_shared()
    setup.open_rollout(RolloutRecord("race", slots=2))
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        coord = make_shared()
        try:
            lease = coord.grant(f"racer{i}", ttl=30)
            for _ in range(rounds):
                slot = None
                while slot is None:
                    slot = coord.acquire("race", lease)
                coord.report("race", Report(f"racer{i}", "applying", token=slot.token),
                             slot=slot)
                coord.release(slot)
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
        finally:
            coord.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    try:
        if errors:
            raise AssertionError(f"a racer failed: {errors[0]!r}") from errors[0]
        audit = concurrency(setup.history("race"))
        assert audit.grants == threads * rounds, audit
        assert audit.peak <= 2 and not audit.problems, audit
    finally:
        setup.close()
