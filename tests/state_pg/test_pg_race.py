"""Four processes race for one stack's lock, 50 rounds each: no double hold, no lost update.

Each round increments a counter in the stack's outputs under the lock (see
``race_worker``). Some rounds leave an expired lease of a made-up crashed
holder behind, which the next taker must take over; some hold a lease so
short that another worker takes over before they write, and fencing must
refuse that write. The counter must end at exactly the number of rounds
whose write was accepted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from driftless.state.postgres import from_url

WORKERS = 4
ROUNDS = 50
WORKER = Path(__file__).with_name("race_worker.py")


def test_four_processes_never_hold_the_lock_together_nor_lose_an_update(
        pg_url: str, pg_schema: str, tmp_path: Path) -> None:
    from_url(pg_url, Path(".")).ensure_schema()  # the first-use race is another test's
    marker = tmp_path / "holder"
    procs = [subprocess.Popen(
        [sys.executable, str(WORKER), pg_url, pg_schema, "race", str(i), str(ROUNDS),
         str(marker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(WORKERS)]
    total: Counter[str] = Counter()
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        total.update(json.loads(out))
    backend = from_url(pg_url, Path("."))
    counter = backend.read("race").outputs["counter"]
    print(f"race: {dict(total)}, final counter {counter}")
    assert total["double"] == 0, "two workers held the lock at once"
    assert total["lost"] == total["refused"] == 0, "a holder with a long lease was refused"
    assert total["zombie_refused"] == 0, "a stale holder got past the fence to the serial check"
    assert counter == total["ok"], "an accepted write was lost (or a refused one landed)"
    zombies = WORKERS * ROUNDS // 10
    assert total["fenced"] + total["zombie_ok"] == zombies
    assert total["ok"] == WORKERS * ROUNDS - total["fenced"]
    assert total["ghosts"] == zombies and total["fenced"] > 0

