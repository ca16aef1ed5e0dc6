"""``driftless state history`` / ``state restore`` on PostgreSQL state (the last 10 serials).

Each write records its serial in ``snapshots`` and keeps the rows it replaced
in ``snapshot_rows``; a schema made by an older driftless (version 1) gets
those tables at its first write and is marked version 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pg_helpers import PgServer

from cli_helpers import files, run, write_project
from driftless.model import LockInfo
from driftless.state.packed import inflate_all
from driftless.state.postgres import from_url


def _pull(root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(root, "state", "pull", "main", check=True).stdout)
    return doc


def test_history_and_restore_through_the_cli(tmp_path: Path, pg_url: str) -> None:
    write_project(tmp_path, files(tmp_path, 3), extra={"state": pg_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    first = _pull(tmp_path)
    write_project(tmp_path, files(tmp_path, 1), extra={"state": pg_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    kept = json.loads(run(tmp_path, "state", "history", "--json", check=True).stdout)
    assert [(h["serial"], h["resources"]) for h in kept] == [(2, 1), (1, 3)]
    assert all(h["writer"].endswith(": apply") for h in kept)
    done = run(tmp_path, "state", "restore", "--stack", "main", "--serial", "1",
               "--auto-approve", check=True)
    assert "+ 2 back in state" in done.stdout
    restored = _pull(tmp_path)
    assert restored["serial"] == 3 and restored["resources"] == first["resources"]
    gone = run(tmp_path, "state", "restore", "--stack", "main", "--serial", "9",
               "--auto-approve")
    assert gone.returncode == 1 and "serial 9 is not among its kept snapshots" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_a_version_1_schema_gets_the_history_tables_at_its_first_write(
        pg_server: PgServer, pg_url: str, pg_schema: str) -> None:
    backend = from_url(pg_url, Path("."))
    backend.write("web", backend.read("web").next(outputs={"n": 1}))
    backend.close()
    with pg_server.admin() as admin:  # as driftless 1 left it
        admin.execute(f"DROP TABLE {pg_schema}.snapshots, {pg_schema}.snapshot_rows")
        admin.execute(f"UPDATE {pg_schema}.meta SET value = '1'")
    old = from_url(pg_url, Path("."))
    assert old.read("web").outputs == {"n": 1} and old.history("web") == []
    info = LockInfo.new("apply")
    old.lock("web", info)
    old.write("web", old.read("web").next(outputs={"n": 2}))
    old.unlock("web", info.id)
    assert [h.serial for h in old.history("web")] == [2]
    assert old.snapshot("web", 2).outputs == {"n": 2}
    old.close()
    with pg_server.admin() as admin:
        row = admin.execute(f"SELECT value FROM {pg_schema}.meta").fetchone()
    assert row is not None and row[0] == "2"


def test_encrypted_snapshots_stay_sealed_in_the_database(
        tmp_path: Path, pg_url: str, pg_server: PgServer, pg_schema: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:correct horse battery staple")
    mark = "marker-0b7e3a"

    def marked(n: int) -> dict[str, Any]:
        return {f"f{i}": {"type": "local:file", "properties": {
            "path": str(tmp_path / "out" / f"{mark}-{i}.txt"), "content": f"{mark} {i}\n",
            "make_parents": True}} for i in range(n)}

    write_project(tmp_path, marked(2), extra={"state": pg_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    first = _pull(tmp_path)
    write_project(tmp_path, marked(1), extra={"state": pg_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    with pg_server.admin() as admin:
        bodies = [bytes(r[0]) for r in admin.execute(
            f"SELECT body FROM {pg_schema}.snapshot_rows").fetchall()]
        outputs = [r[0] for r in admin.execute(f"SELECT outputs FROM {pg_schema}.snapshots")]
    assert bodies, "the replaced row is kept"
    assert not any(mark.encode() in inflate_all(b) for b in bodies)
    assert not any(mark in o for o in outputs)
    run(tmp_path, "state", "restore", "--stack", "main", "--serial", "1", "--auto-approve",
        check=True)
    assert _pull(tmp_path)["resources"] == first["resources"]
