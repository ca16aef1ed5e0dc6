"""Four processes race for one S3 stack's lock, in both lock modes (moto server).

The shared race suite (``driftless.state.testing_race``) plants dead and
expired holders and force-unlocks live ones mid-write: no double hold, no
lost update, every write of a force-unlocked holder refused.
"""

from __future__ import annotations

from pathlib import Path

from driftless.state import open_backend
from driftless.state.testing import check_lock_race_processes

ROUNDS = 50


def test_s3_object_lock_race(s3_url: str, tmp_path: Path) -> None:
    tally = check_lock_race_processes(lambda: open_backend(s3_url, root=Path(".")), tmp_path,
                                      workers=4, rounds=ROUNDS)
    print(f"s3 object-lock race: {dict(tally)}")
    assert tally["dead_planted"] and tally["expired_planted"] and tally["fenced"]


def test_s3_dynamodb_lock_race(s3_table_url: str, tmp_path: Path) -> None:
    tally = check_lock_race_processes(lambda: open_backend(s3_table_url, root=Path(".")),
                                      tmp_path, workers=4, rounds=ROUNDS)
    print(f"s3 dynamodb-lock race: {dict(tally)}")
    assert tally["dead_planted"] and tally["expired_planted"] and tally["fenced"]
