"""What the PostgreSQL backend does beyond the shared suite: fencing, rows, URLs, errors."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from pg_helpers import PASSWORD, PASSWORD_USER, PgServer

from driftless.errors import ConfigError, LockHeld, StateError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.state import open_backend
from driftless.state.postgres import PostgresBackend, from_url, parse_url
from servers import free_port


def _backend(url: str) -> PostgresBackend:
    return from_url(url, Path("."))


def _files(*names: str, lineage: str | None = None, serial: int = 1) -> StateSnapshot:
    resources = {}
    for name in names:
        rid = ResourceId("local", "file", name)
        resources[rid] = ResourceState(rid, {"path": f"/srv/{name}"})
    return StateSnapshot(lineage or StateSnapshot.empty().lineage, serial, resources, {})


# -- fencing ---------------------------------------------------------------------


def test_a_writer_whose_lease_was_taken_over_is_refused(pg_url: str) -> None:
    one, two = _backend(pg_url), _backend(pg_url)
    one.lock("web", LockInfo.new("apply", lease=0.2))
    base = one.read("web")
    seq = one.journal("web").begin("local:file/a", "create", {})
    time.sleep(0.3)
    two.lock("web", LockInfo.new("apply"))  # the lease ran out: taken over
    with pytest.raises(StateError, match=r"^lock lost: the lease on stack 'web' is held by"):
        one.write("web", base.next(outputs={"by": "one"}))
    with pytest.raises(StateError, match="lock lost"):
        one.journal("web").begin("local:file/b", "create", {})
    # The outcome of our own intent still lands (its side effect happened), once.
    one.journal("web").finish(seq, ok=True, live=None)
    (entry,) = two.journal("web").entries()
    assert entry.seq == seq and entry.finished and entry.ok
    with pytest.raises(StateError, match="lock lost"):
        one.journal("web").clear(seq)
    two.write("web", two.read("web").next(outputs={"by": "two"}))
    assert one.read("web").outputs == {"by": "two"}


def test_a_force_unlocked_writer_is_refused(pg_url: str) -> None:
    one, admin = _backend(pg_url), _backend(pg_url)
    one.lock("web", LockInfo.new("apply"))
    admin.unlock("web", "whatever", force=True)
    with pytest.raises(StateError, match="lock lost: the lease on stack 'web' is released"):
        one.write("web", one.read("web").next())


def test_a_client_without_the_lock_cannot_write_under_a_live_lease(pg_url: str) -> None:
    holder, other = _backend(pg_url), _backend(pg_url)
    info = LockInfo.new("apply")
    holder.lock("web", info)
    with pytest.raises(StateError, match=r"locked by .*holds no lock on it"):
        other.write("web", other.read("web").next())
    with pytest.raises(StateError, match="holds no lock on it"):
        other.journal("web").begin("local:file/a", "create", {})
    holder.write("web", holder.read("web").next())
    holder.unlock("web", info.id)
    other.write("web", other.read("web").next())  # released: unlocked writes are fine again
    assert other.read("web").serial == 2


def test_takeover_is_compare_and_set_on_the_old_token(pg_url: str, pg_server: PgServer,
                                                      pg_schema: str) -> None:
    one, two = _backend(pg_url), _backend(pg_url)
    one.lock("web", LockInfo.new("apply", lease=0.1))
    with pg_server.admin() as db:
        before = db.execute(f"SELECT token FROM {pg_schema}.leases").fetchone()
    time.sleep(0.2)
    new = LockInfo.new("apply")
    assert two.lock("web", new) == new.id
    with pg_server.admin() as db:
        after = db.execute(f"SELECT token, lock_id FROM {pg_schema}.leases").fetchone()
    assert before is not None and after is not None
    assert after[0] != before[0] and after[1] == new.id
    with pytest.raises(LockHeld):
        one.lock("web", LockInfo.new("apply"))


def test_renew_keeps_the_lease_on_the_servers_clock(pg_url: str) -> None:
    one = _backend(pg_url)
    info = LockInfo.new("apply", lease=5.0)
    one.lock("web", info)
    time.sleep(0.1)
    one.renew("web", info.id)
    held = one.lock_info("web")
    assert held is not None and held.id == info.id and held.who == info.who
    assert 4.5 < held.remaining_seconds() <= 5.0


# -- rows ------------------------------------------------------------------------


def test_a_write_touches_only_the_rows_that_changed(pg_url: str, pg_server: PgServer,
                                                    pg_schema: str) -> None:
    backend = _backend(pg_url)
    first = _files("a", "b", "c")
    backend.write("web", first)
    rid = ResourceId("local", "file", "b")
    resources = {k: v for k, v in first.resources.items() if k.name != "c"}
    resources[rid] = ResourceState(rid, {"path": "/moved"})
    backend.write("web", first.next(resources))
    with pg_server.admin() as db:
        rows = db.execute(f"SELECT address, serial FROM {pg_schema}.resources "
                          "ORDER BY address").fetchall()
    assert rows == [("local:file/a", 1), ("local:file/b", 2)]
    assert _backend(pg_url).read("web").resources == backend.read("web").resources


def test_reading_creates_nothing(pg_url: str, pg_server: PgServer, pg_schema: str) -> None:
    backend = _backend(pg_url)
    assert backend.read("web").serial == 0
    assert backend.stacks() == [] and backend.lock_info("web") is None
    assert backend.journal("web").entries() == []
    backend.unlock("web", "nobody")
    with pg_server.admin() as db:
        found = db.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                           (pg_schema,)).fetchone()
    assert found is None
    assert backend.ensure_schema() and not backend.ensure_schema()


def test_the_default_schema_is_driftless(pg_server: PgServer) -> None:
    assert parse_url(pg_server.url()).schema == "driftless"
    backend = _backend(pg_server.url())
    stack = f"s-{uuid.uuid4().hex[:8]}"
    backend.write(stack, _files("a"))
    with pg_server.admin() as db:
        assert db.execute("SELECT count(*) FROM driftless.stacks WHERE name = %s",
                          (stack,)).fetchone() == (1,)


def test_a_newer_table_layout_is_refused(pg_url: str, pg_server: PgServer,
                                         pg_schema: str) -> None:
    _backend(pg_url).ensure_schema()
    with pg_server.admin() as db:
        db.execute(f"UPDATE {pg_schema}.meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="version 99; this driftless knows up to 2"):
        _backend(pg_url).read("web")


# -- URLs and errors -------------------------------------------------------------


def test_url_options_reach_libpq_and_bad_ones_are_config_errors() -> None:
    loc = parse_url("postgresql://u:pw@db.example:6432/state?schema=team_a&sslmode=require")
    assert loc.schema == "team_a" and "schema" not in loc.conninfo and "sslmode" in loc.conninfo
    assert loc.shown == "postgresql://u:***@db.example:6432/state?schema=team_a&sslmode=require"
    assert "pw" not in repr(loc) and "pw" not in repr(PostgresBackend(loc))
    with pytest.raises(ConfigError, match="bad PostgreSQL state URL 'postgres://u:\\*\\*\\*@h/d"):
        parse_url("postgres://u:pw@h/d?no_such_option=1")
    with pytest.raises(ConfigError, match="bad schema"):
        parse_url("postgres://h/d?schema=")


def test_connection_refused_names_the_url_without_the_password() -> None:
    url = f"postgres://me:hunter2@127.0.0.1:{free_port()}/state"
    with pytest.raises(StateError) as caught:
        open_backend(url, root=Path(".")).read("web")
    shown = f"postgres://me:***@127.0.0.1:{url.split(':')[3]}"
    assert str(caught.value).startswith(f"cannot use PostgreSQL state at {shown}")
    assert "hunter2" not in str(caught.value) and "hunter2" not in (caught.value.hint or "")
    assert "running" in (caught.value.hint or "")


def test_a_wrong_password_is_an_auth_error_without_the_password(pg_server: PgServer) -> None:
    url = f"postgres://{PASSWORD_USER}:wrong-{PASSWORD}@{pg_server.host}:{pg_server.port}/postgres"
    with pytest.raises(StateError, match="password authentication failed") as caught:
        _backend(url).read("web")
    assert PASSWORD not in str(caught.value) and "***" in str(caught.value)
    assert "PGPASSWORD" in (caught.value.hint or "")


def test_the_right_password_works(pg_server: PgServer, pg_schema: str) -> None:
    url = (f"postgres://{PASSWORD_USER}:{PASSWORD}@{pg_server.host}:{pg_server.port}/postgres"
           f"?schema={pg_schema}")
    backend = _backend(url)
    backend.write("web", _files("a"))
    assert backend.read("web").serial == 1


def test_a_missing_database_says_so(pg_server: PgServer) -> None:
    with pytest.raises(StateError, match='database "nope" does not exist') as caught:
        _backend(pg_server.url(db="nope")).stacks()
    assert "createdb" in (caught.value.hint or "")
