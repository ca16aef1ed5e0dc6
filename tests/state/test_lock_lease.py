"""hold_lock / hold_locks against a real SQLite backend, two clients per store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from driftless.errors import LockHeld, StateError
from driftless.model import LockInfo
from driftless.state import SQLiteBackend, hold_lock, hold_locks


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def test_hold_lock_holds_then_releases(db: Path) -> None:
    one, two = SQLiteBackend(db), SQLiteBackend(db)
    with hold_lock(one, "infra", operation="apply") as info:
        held = two.lock_info("infra")
        assert held is not None and held.id == info.id and held.operation == "apply"
        with pytest.raises(LockHeld):
            two.lock("infra", LockInfo.new("plan"))
    assert two.lock_info("infra") is None


def test_lease_is_renewed_while_the_body_runs(db: Path) -> None:
    one, two = SQLiteBackend(db), SQLiteBackend(db)
    with hold_lock(one, "infra", operation="apply", lease=0.6, renew_every=0.1) as info:
        time.sleep(1.2)  # twice the lease: only renewal keeps it
        with pytest.raises(LockHeld) as caught:
            two.lock("infra", LockInfo.new("plan"))
        assert caught.value.info.id == info.id


def test_wait_retries_until_the_holder_lets_go(db: Path) -> None:
    one, two = SQLiteBackend(db), SQLiteBackend(db)
    first = LockInfo.new("apply")
    one.lock("infra", first)
    threading.Timer(0.4, one.unlock, args=("infra", first.id)).start()
    started = time.monotonic()
    with hold_lock(two, "infra", operation="plan", wait=10.0) as info:
        assert time.monotonic() - started >= 0.3
        held = one.lock_info("infra")
        assert held is not None and held.id == info.id


def test_wait_gives_up_with_lock_held_naming_the_holder(db: Path) -> None:
    one, two = SQLiteBackend(db), SQLiteBackend(db)
    one.lock("infra", LockInfo.new("apply"))
    started = time.monotonic()
    with pytest.raises(LockHeld) as caught, hold_lock(two, "infra", operation="plan", wait=0.5):
        pytest.fail("the body must not run without the lock")
    assert 0.4 <= time.monotonic() - started < 5
    assert caught.value.info.operation == "apply"
    assert "apply" in str(caught.value) and "--force" in (caught.value.hint or "")


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt], ids=["error", "ctrl-c"])
def test_lock_is_released_when_the_body_raises(db: Path, error: type[BaseException]) -> None:
    backend = SQLiteBackend(db)
    with pytest.raises(error), hold_lock(backend, "infra", operation="apply"):
        raise error("boom")
    assert backend.lock_info("infra") is None


def test_lost_lease_is_reported_at_exit(db: Path) -> None:
    one, two = SQLiteBackend(db), SQLiteBackend(db)
    taker = LockInfo.new("destroy")
    with (
        pytest.raises(StateError, match="lost while apply ran") as caught,
        hold_lock(one, "infra", operation="apply", lease=30, renew_every=0.05) as info,
    ):
        two.unlock("infra", info.id + "-not", force=True)
        two.lock("infra", taker)
        time.sleep(0.3)
    assert "plan again" in (caught.value.hint or "")
    held = two.lock_info("infra")
    assert held is not None and held.id == taker.id, "the new holder keeps its lock"


def test_hold_locks_takes_all_sorted_and_releases_all(db: Path) -> None:
    one, two = SQLiteBackend(db), SQLiteBackend(db)
    with hold_locks(one, ["web", "db", "web", "cache"], operation="apply") as infos:
        assert list(infos) == ["cache", "db", "web"]
        for stack, info in infos.items():
            held = two.lock_info(stack)
            assert held is not None and held.id == info.id
    assert [two.lock_info(s) for s in ("cache", "db", "web")] == [None, None, None]


def test_hold_locks_releases_what_it_took_when_one_is_held(db: Path) -> None:
    one, two = SQLiteBackend(db), SQLiteBackend(db)
    two.lock("web", LockInfo.new("apply"))
    with pytest.raises(LockHeld), hold_locks(one, ["web", "db"], operation="plan"):
        pytest.fail("the body must not run without every lock")
    assert one.lock_info("db") is None


@pytest.mark.parametrize("env", [
    {"LOGNAME": "alice", "USER": "bob"}, {"USER": "bob"}, {"LNAME": "carol"},
    {"USERNAME": "dave"}, {"LOGNAME": "", "USER": "erin"}, {},
])
def test_the_lock_holder_is_named_as_getpass_names_the_user(
        env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``model.lock`` finds the user without importing getpass, and finds whom it does."""
    import getpass

    from driftless.model import lock

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert lock._user() == getpass.getuser()
