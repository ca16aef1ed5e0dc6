"""The shared race suite (``driftless.state.testing_race``) on PostgreSQL.

Four processes x 50 rounds race for one stack's lock on a real server:
planted dead holders, expired holders and live holders force-unlocked
mid-write. Zero double holds, zero lost updates, every write of a
force-unlocked holder refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.state.base import StateBackend
from driftless.state.postgres import from_url
from driftless.state.testing import check_lock_race_processes


@pytest.mark.timeout(360)
def test_pg_shared_race_four_processes_fifty_rounds(pg_url: str, tmp_path: Path) -> None:
    def make_backend() -> StateBackend:
        return from_url(pg_url, Path("."))

    setup = from_url(pg_url, Path("."))
    setup.ensure_schema()
    setup.close()
    tally = check_lock_race_processes(make_backend, tmp_path, workers=4, rounds=50)
    print(f"postgres race: {dict(tally)}")
    assert tally["dead_planted"] and tally["expired_planted"] and tally["fenced"]
