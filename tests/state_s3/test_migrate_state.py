"""``migrate_state``: SQLite ⇄ S3 copies keep the lineage, repeat safely, refuse foreign state."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.errors import LockHeld, StateConflict, StateError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.state import StateBackend, open_backend
from driftless.workflows import migrate_state, plan_migration


def _grow(backend: StateBackend, stack: str, times: int) -> StateSnapshot:
    snap = backend.read(stack)
    for i in range(times):
        rid = ResourceId("local", "file", f"f{i}")
        snap = snap.next({**snap.resources, rid: ResourceState(rid, {"n": i})}, {"last": i})
        backend.write(stack, snap)
    return snap


@pytest.fixture
def local(tmp_path: Path) -> StateBackend:
    return open_backend("sqlite:///state.db", root=tmp_path)


def test_sqlite_to_s3_keeps_lineage_serial_and_is_idempotent(local: StateBackend, s3_url: str
                                                             ) -> None:
    web, db = _grow(local, "web", 3), _grow(local, "db", 1)
    remote = open_backend(s3_url, root=Path("."))
    assert migrate_state(local, remote) == ["db", "web"]
    got = remote.read("web")
    assert (got.lineage, got.serial, got.resources) == (web.lineage, 3, web.resources)
    assert remote.read("db").outputs == db.outputs
    assert migrate_state(local, remote) == []
    assert [s.action for s in plan_migration(local, remote)] == ["same", "same"]
    assert remote.lock_info("web") is None and local.lock_info("web") is None


def test_newer_source_is_copied_again_and_newer_destination_refused(local: StateBackend,
                                                                     s3_url: str) -> None:
    _grow(local, "web", 1)
    remote = open_backend(s3_url, root=Path("."))
    migrate_state(local, remote)
    _grow(local, "web", 2)
    assert migrate_state(local, remote, stacks=["web"]) == ["web"]
    assert remote.read("web").serial == 3
    _grow(remote, "web", 1)
    with pytest.raises(StateConflict, match=r"newer state of stack 'web' \(serial 4 > 3\)"):
        migrate_state(local, remote)


def test_foreign_lineage_refused_and_nothing_written(local: StateBackend, s3_url: str) -> None:
    _grow(local, "web", 2)
    remote = open_backend(s3_url, root=Path("."))
    theirs = _grow(remote, "web", 1)
    with pytest.raises(StateConflict, match=r"different state of stack 'web'.*lineage"):
        migrate_state(local, remote)
    assert remote.read("web") == theirs


def test_s3_to_sqlite_keeps_lineage(tmp_path: Path, s3_url: str) -> None:
    remote = open_backend(s3_url, root=Path("."))
    snap = _grow(remote, "web", 2)
    local = open_backend("sqlite:///other.db", root=tmp_path)
    assert migrate_state(remote, local) == ["web"]
    got = local.read("web")
    assert got.lineage == snap.lineage and got.resources == snap.resources
    assert migrate_state(remote, local) == []


def test_refuses_while_locked_or_with_pending_journal(local: StateBackend, s3_url: str) -> None:
    _grow(local, "web", 1)
    remote = open_backend(s3_url, root=Path("."))
    lock_id = remote.lock("web", LockInfo.new("apply"))
    with pytest.raises(LockHeld):
        migrate_state(local, remote)
    remote.unlock("web", lock_id)
    local.journal("web").begin("local:file/x", "create", {})
    with pytest.raises(StateError, match="journal entries from an interrupted apply"):
        migrate_state(local, remote)
    assert remote.stacks() == []
