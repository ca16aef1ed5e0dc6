"""``bootstrap --backend postgres://…`` and ``state migrate`` to and from PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pg_helpers import PgServer

from cli_helpers import run
from driftless.errors import ConfigError, StateConflict
from driftless.model import ResourceId, ResourceState, StateSnapshot
from driftless.render.project import load_project
from driftless.state import StateBackend, open_backend
from driftless.workflows import bootstrap, migrate_state, plan_migration

PROJECT = """\
# the demo project
project: demo   # its name
stacks:
  - web   # the only stack
"""


def _grow(backend: StateBackend, stack: str, times: int) -> StateSnapshot:
    snap = backend.read(stack)
    for i in range(times):
        rid = ResourceId("local", "file", f"f{i}")
        snap = snap.next({**snap.resources, rid: ResourceState(rid, {"n": i})}, {"last": i})
        backend.write(stack, snap)
    return snap


def _project(root: Path) -> Path:
    (root / "driftless.yaml").write_text(PROJECT)
    (root / "web").mkdir()
    (root / "web" / "stack.yaml").write_text("resources: {}\n")
    local = open_backend("sqlite:///.driftless/state.db", root=root)
    _grow(local, "web", 2)
    local.close()
    return root


def test_bootstrap_creates_tables_moves_state_and_rewrites_state(tmp_path: Path, pg_url: str
                                                                 ) -> None:
    root = _project(tmp_path)
    first = bootstrap(load_project(root), pg_url)
    assert first.changed and first.schema_created and first.copied == ["web"]
    assert first.results == () and not first.plan.has_changes()
    text = (root / "driftless.yaml").read_text()
    assert text == PROJECT.replace("stacks:", f"state: {pg_url}\nstacks:")

    project = load_project(root)
    remote = open_backend(project.state_url, root=root)
    local = open_backend("sqlite:///.driftless/state.db", root=root)
    assert remote.stacks() == ["web"]
    assert remote.read("web") == local.read("web")  # same lineage and serial
    again = bootstrap(project, pg_url)
    assert not again.changed and again.migration == () and again.config_file is None


def test_bootstrap_refuses_a_lock_table_and_a_password_in_the_url(tmp_path: Path,
                                                                  pg_url: str) -> None:
    root = _project(tmp_path)
    with pytest.raises(ConfigError, match="--lock-table is for S3"):
        bootstrap(load_project(root), pg_url, lock_table="locks")
    with pytest.raises(ConfigError, match=r"postgres://u:\*\*\*@.*holds a password") as caught:
        bootstrap(load_project(root), pg_url.replace("postgres://postgres@", "postgres://u:pw@"))
    assert "pw" not in str(caught.value).replace("password", "")
    assert (root / "driftless.yaml").read_text() == PROJECT


def test_the_cli_bootstraps_into_postgres(tmp_path: Path, pg_url: str) -> None:
    root = _project(tmp_path)
    done = run(root, "bootstrap", "--backend", pg_url, check=True)
    assert "state of stack web: copied (serial 2)" in done.stdout
    assert run(root, "bootstrap", "--backend", pg_url, check=True).stdout.startswith(
        "Nothing to do")


def test_migrate_sqlite_to_postgres_and_back_keeps_lineage_and_serial(tmp_path: Path,
                                                                      pg_url: str) -> None:
    local = open_backend("sqlite:///state.db", root=tmp_path)
    web, db = _grow(local, "web", 3), _grow(local, "db", 1)
    remote = open_backend(pg_url, root=tmp_path)
    assert migrate_state(local, remote) == ["db", "web"]
    got = remote.read("web")
    assert (got.lineage, got.serial, got.resources) == (web.lineage, 3, web.resources)
    assert remote.read("db").outputs == db.outputs
    assert migrate_state(local, remote) == []
    assert [s.action for s in plan_migration(local, remote)] == ["same", "same"]
    assert remote.lock_info("web") is None

    _grow(remote, "web", 1)
    with pytest.raises(StateConflict, match=r"newer state of stack 'web' \(serial 4 > 3\)"):
        migrate_state(local, remote)
    back = open_backend("sqlite:///back.db", root=tmp_path)
    assert migrate_state(remote, back) == ["db", "web"]
    assert back.read("web").lineage == web.lineage


def test_the_cli_migrates_between_two_schemas(tmp_path: Path, pg_server: PgServer,
                                              pg_url: str) -> None:
    src = open_backend(pg_url, root=tmp_path)
    _grow(src, "web", 2)
    target = pg_server.url(schema=f"{pg_url.rsplit('=', 1)[1]}_copy")
    done = run(tmp_path, "state", "migrate", pg_url, target, check=True)
    assert "web: copied (serial 2)" in done.stdout
    assert open_backend(target, root=tmp_path).read("web") == src.read("web")
