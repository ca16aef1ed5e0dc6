"""One racer of ``test_pg_race``: run as its own process, prints its tally as JSON.

Usage: ``python race_worker.py URL SCHEMA STACK WORKER ROUNDS MARKER``. Each
round takes the stack's lock, reads the counter in the outputs and writes it
back plus one. Three kinds of round:

- normal: a long lease; while holding it the worker creates ``MARKER`` with
  O_EXCL, so a second holder at the same time shows up as a failed create
  (a double hold); it removes the marker before it lets the lock go;
- ghost: a normal round that ends by turning its lease into an expired one
  of a made-up holder (a crashed process), which the next taker must take over;
- zombie: a short lease, a read, then a sleep past the lease's end before it
  writes, so another worker may take over meanwhile; the write must then be
  refused by the fence ("lock lost"), else it counts like any successful round.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
from psycopg import sql

from driftless.errors import LockHeld, StateError
from driftless.model import LockInfo
from driftless.state.postgres import PostgresBackend, from_url

ZOMBIE_LEASE = 0.15
ZOMBIE_SLEEP = 0.3


def take(backend: PostgresBackend, stack: str, *, lease: float) -> LockInfo:
    """Retry quickly (this is a race test, not a polite client) until the lock is ours."""
    while True:
        info = LockInfo.new("race", lease=lease)
        try:
            backend.lock(stack, info)
            return info
        except LockHeld:
            time.sleep(random.uniform(0.001, 0.005))


def increment(backend: PostgresBackend, stack: str) -> None:
    snap = backend.read(stack)
    time.sleep(random.uniform(0, 0.002))  # widen the read-write window a little
    backend.write(stack, snap.next(outputs={"counter": int(snap.outputs.get("counter", 0)) + 1}))


def plant_ghost(url: str, schema: str, stack: str, info: LockInfo) -> None:
    """Make our lease look like an expired one of a crashed holder elsewhere."""
    ghost = json.dumps({"who": "ghost@elsewhere", "operation": "crashed", "created": 0,
                        "pid": 0})
    with psycopg.connect(url.split("?")[0], autocommit=True) as db:
        db.execute(sql.SQL(
            "UPDATE {}.leases SET lock_id = %s, token = %s, info = %s, "
            "expires_at = clock_timestamp() - interval '1 second' "
            "WHERE stack = %s AND lock_id = %s").format(sql.Identifier(schema)),
            (f"ghost-{uuid.uuid4().hex}", uuid.uuid4().hex, ghost, stack, info.id))


def held_round(backend: PostgresBackend, stack: str, marker: Path, tally: Counter[str],
               *, ghost: tuple[str, str] | None) -> None:
    info = take(backend, stack, lease=30.0)
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        tally["double"] += 1
        release(backend, stack, info, tally)
        return
    os.close(fd)
    try:
        increment(backend, stack)
        tally["ok"] += 1
    except StateError as exc:
        # Never with a 30 s lease: counted so the test can say so, not crash on it.
        tally["lost" if str(exc).startswith("lock lost") else "refused"] += 1
    finally:
        marker.unlink()
    if ghost is not None:
        plant_ghost(ghost[0], ghost[1], stack, info)
        tally["ghosts"] += 1
    else:
        release(backend, stack, info, tally)


def release(backend: PostgresBackend, stack: str, info: LockInfo, tally: Counter[str]) -> None:
    """Unlock; a lock that is not ours any more is counted, not raised."""
    try:
        backend.unlock(stack, info.id)
    except StateError:
        tally["lost"] += 1


def zombie_round(backend: PostgresBackend, stack: str, tally: Counter[str]) -> None:
    """Read, stall past the lease (a GC pause, a stopped VM), then write what was read + 1."""
    info = take(backend, stack, lease=ZOMBIE_LEASE)
    snap = backend.read(stack)
    time.sleep(ZOMBIE_SLEEP)
    try:
        backend.write(stack, snap.next(outputs={"counter": int(snap.outputs.get("counter", 0))
                                                + 1}))
        tally["ok"] += 1
        tally["zombie_ok"] += 1
    except StateError as exc:
        # Only the fence may refuse: a serial conflict means the zombie got too far.
        tally["fenced" if str(exc).startswith("lock lost") else "zombie_refused"] += 1
    with contextlib.suppress(StateError):  # taken over: not ours to release
        backend.unlock(stack, info.id)


def main(url: str, schema: str, stack: str, worker: int, rounds: int, marker: Path) -> None:
    backend = from_url(url, Path("."))
    tally: Counter[str] = Counter()
    random.seed(worker)
    for r in range(rounds):
        if r % 10 == 3:
            zombie_round(backend, stack, tally)
        else:
            ghost = (url, schema) if r % 10 == 7 else None
            held_round(backend, stack, marker, tally, ghost=ghost)
    backend.close()
    print(json.dumps(dict(tally)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
         Path(sys.argv[6]))
