"""``settings.never_by_hand``: a hand-run apply is refused, break-glass is recorded.

The real CLI in a subprocess, outside CI and the agent (``cli_helpers.run``
drops ``CI``), on a one-file project with SQLite state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import files, run, write_project


def _project(root: Path, *, never_by_hand: bool) -> Path:
    extra = {"settings": {"never_by_hand": True}} if never_by_hand else None
    project: Path = write_project(root, files(root, 1), extra=extra)
    return project


def test_a_hand_run_apply_is_refused_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTLESS_AGENT", raising=False)
    root = _project(tmp_path, never_by_hand=True)
    proc = run(root, "apply", "--auto-approve")
    assert proc.returncode != 0
    assert "applied only by the agent or CI" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out" / "f0.txt").exists()


def test_break_glass_with_a_reason_applies_and_says_it_was_recorded(tmp_path: Path) -> None:
    root = _project(tmp_path, never_by_hand=True)
    proc = run(root, "apply", "--auto-approve", "--break-glass", "--reason", "outage")
    assert proc.returncode == 0, proc.stderr
    assert "break-glass apply recorded in history: outage" in proc.stderr
    assert (tmp_path / "out" / "f0.txt").read_text() == "content 0\n"


def test_without_the_setting_break_glass_changes_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path, never_by_hand=False)
    proc = run(root, "apply", "--auto-approve", "--break-glass", "--reason", "outage")
    assert proc.returncode == 0, proc.stderr
    assert "break-glass" not in proc.stderr
    assert (tmp_path / "out" / "f0.txt").exists()
