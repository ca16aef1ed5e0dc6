"""Four processes race for one SQLite stack's lock: no double hold, no lost update.

The shared race suite (``driftless.state.testing_race``) plants dead and
expired holders and force-unlocks live ones mid-write.
"""

from __future__ import annotations

from pathlib import Path

from driftless.state.base import StateBackend
from driftless.state.sqlite import SQLiteBackend
from driftless.state.testing import check_lock_race_processes


def test_sqlite_race_four_processes_fifty_rounds(tmp_path: Path) -> None:
    def make_backend() -> StateBackend:
        return SQLiteBackend(tmp_path / "state.db")

    make_backend().read("warm-up")  # nothing to create: the file appears on first write
    tally = check_lock_race_processes(make_backend, tmp_path, workers=4, rounds=50)
    print(f"sqlite race: {dict(tally)}")
    assert tally["dead_planted"] and tally["expired_planted"] and tally["fenced"]
