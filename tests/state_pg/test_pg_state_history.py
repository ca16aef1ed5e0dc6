"""``driftless state history`` / ``state restore`` on PostgreSQL state: not kept, said clearly."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import files, run, write_project


def test_history_and_restore_say_postgres_keeps_no_snapshots(tmp_path: Path,
                                                              pg_url: str) -> None:
    write_project(tmp_path, files(tmp_path, 1), extra={"state": pg_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    for args in (("state", "history"),
                 ("state", "restore", "--stack", "main", "--serial", "1", "--auto-approve")):
        proc = run(tmp_path, *args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "the postgres state backend keeps no snapshots" in proc.stderr
        assert "state pull" in proc.stderr and "Traceback" not in proc.stderr
