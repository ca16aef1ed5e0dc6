"""The clean-plan memo through the real CLI: a repeated no-op plan only stats, and
drift made to look clean (same size, mtime set back with ``touch -d``) is found."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cli_helpers import files, run, write_project


def _memo_entries(root: Path) -> list[str]:
    cache = root / ".driftless" / "cache"
    return sorted(p.name for p in cache.iterdir() if p.name.startswith("clean-"))


def test_drift_hidden_by_touch_d_is_found_after_a_remembered_no_op(tmp_path: Path) -> None:
    root = write_project(tmp_path, files(tmp_path, 20))
    run(root, "apply", "--auto-approve", check=True)
    assert run(root, "plan", "--detailed-exitcode").returncode == 0  # remembered
    assert _memo_entries(root)
    quiet = run(root, "plan", "--detailed-exitcode")  # served by the memo
    assert quiet.returncode == 0 and "No changes" in quiet.stdout

    target = tmp_path / "out" / "f7.txt"
    stamp = subprocess.run(["stat", "-c", "%y", str(target)], capture_output=True,
                           text=True, check=True).stdout.strip()
    target.write_text(target.read_text().replace("content", "CONTENT"))  # same size
    subprocess.run(["touch", "-d", stamp, str(target)], check=True)  # mtime put back
    assert subprocess.run(["stat", "-c", "%y", str(target)], capture_output=True,
                          text=True, check=True).stdout.strip() == stamp

    drift = run(root, "plan", "--detailed-exitcode")
    assert drift.returncode == 2, drift.stdout + drift.stderr
    assert "local:file/f7" in drift.stdout and "update" in drift.stdout
    assert "local:file/f6" not in drift.stdout
    run(root, "apply", "--auto-approve", check=True)
    assert target.read_text() == "content 7\n"
    assert run(root, "plan", "--detailed-exitcode").returncode == 0


def test_a_deleted_file_and_an_edited_stack_are_planned(tmp_path: Path) -> None:
    root = write_project(tmp_path, files(tmp_path, 5))
    run(root, "apply", "--auto-approve", check=True)
    run(root, "plan", check=True)
    (tmp_path / "out" / "f2.txt").unlink()
    gone = run(root, "plan", "--detailed-exitcode")
    assert gone.returncode == 2 and "local:file/f2" in gone.stdout
    run(root, "apply", "--auto-approve", check=True)
    edited = files(tmp_path, 5)
    edited["f4"]["properties"]["content"] = "new\n"
    write_project(tmp_path, edited)
    changed = run(root, "plan", "--detailed-exitcode")
    assert changed.returncode == 2 and "local:file/f4" in changed.stdout
    assert "local:file/f3" not in changed.stdout
