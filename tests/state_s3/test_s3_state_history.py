"""``driftless state history`` / ``state restore`` on S3 state: the bucket's versions instead."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import files, run, write_project


def test_history_and_restore_point_at_bucket_versions(tmp_path: Path, s3_url: str) -> None:
    write_project(tmp_path, files(tmp_path, 1), extra={"state": s3_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    for args in (("state", "history"),
                 ("state", "restore", "--stack", "main", "--serial", "1", "--auto-approve")):
        proc = run(tmp_path, *args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "the s3 state backend keeps no snapshots" in proc.stderr
        assert "object version" in proc.stderr and "Traceback" not in proc.stderr
