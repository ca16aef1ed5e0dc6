"""N real agents in fleet mode on one real store (issue 15): the acceptance scenario.

Starts the store on loopback (Debian's etcd, a serial moto server for
DynamoDB, or PostgreSQL), N ``driftless agent`` processes tagged
``role=worker`` (each its own state dir and output dir), then runs
tests/fleet/agent_harness.py's ``scenario``:

1. a first revision rolls out with max_unavailable 10 %; the store's slot
   history (etcd's own revisions; DynamoDB/PostgreSQL history written with
   each grant and release) must never show more slots held than allowed;
2. a second revision, and ``--kills`` random non-canary agents SIGKILLed
   mid-rollout (slot holders first): no slot held after lease expiry, the
   rest converge;
3. a revision failing on the canary halts before any other node applies it.

Run: python -m bench.bench_fleet_agents [--store etcd|dynamodb|postgres|all]
     [--nodes 50] [--kills 10]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "tests"
sys.path[:0] = [str(HERE), str(HERE / "fleet"), str(HERE / "state_pg")]

from agent_harness import AgentFleet, scenario  # noqa: E402
from fleet_servers import etcd_server, serial_moto_server  # noqa: E402

from driftless.fleet.base import Coordinator  # noqa: E402

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
       "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}


@contextmanager
def store(kind: str, work: Path) -> Iterator[tuple[str, Coordinator, dict[str, str]]]:
    """A fresh store of ``kind``: the URL for the agents, a coordinator, extra env."""
    ns = uuid.uuid4().hex[:8]
    if kind == "etcd":
        from driftless.fleet.etcd import EtcdCoordinator

        with etcd_server(work) as url:
            coord = EtcdCoordinator(url, prefix=f"/bench-{ns}")
            yield f"etcd://{url.removeprefix('http://')}/bench-{ns}", coord, {}
    elif kind == "dynamodb":
        import os

        from driftless.fleet.dynamo import DynamoCoordinator

        os.environ.update(AWS)
        with serial_moto_server(work) as url:
            coord = DynamoCoordinator(f"fleet-{ns}", region="us-east-1", endpoint=url)
            coord.create_table()
            # moto serves one request at a time and copies the whole table for every
            # transaction: with 50 agents a round trip can take seconds, so longer leases
            yield (f"dynamodb://fleet-{ns}?region=us-east-1&endpoint={url}", coord,
                   {**AWS, "DRIFTLESS_FLEET_TTL": "20"})
    else:
        from pg_helpers import running_server

        from driftless.fleet.postgres import PostgresCoordinator

        with running_server() as server:
            url = server.url(schema=f"bench_{ns}")
            yield url, PostgresCoordinator(url), {}


def run_one(kind: str, nodes: int, kills: int, seed: int,
            overrides: dict[str, str]) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix=f"fleet-{kind}-"))  # kept when a run fails
    with store(kind, work) as (url, coord, extra):
        env = {"DRIFTLESS_FLEET_MAX_UNAVAILABLE": "10%", "DRIFTLESS_FLEET_CANARY": "1",
               "DRIFTLESS_FLEET_FAILURE_THRESHOLD": "10%", "DRIFTLESS_FLEET_TTL": "4",
               "DRIFTLESS_FLEET_POLL": "1", "DRIFTLESS_FLEET_HEALTH_TIMEOUT": "30",
               **extra, **overrides}
        fleet = AgentFleet(work, url, coord, nodes, env)
        started = time.monotonic()
        try:
            fleet.start_idle(timeout=300)
            measured = scenario(fleet, kills=kills, rng=random.Random(seed),
                                timeout=600)
        finally:
            fleet.stop()
            coord.close()
        measured["total_seconds"] = round(time.monotonic() - started, 1)
    shutil.rmtree(work, ignore_errors=True)
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="etcd",
                        choices=["etcd", "dynamodb", "postgres", "all"])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--ttl", help="lease TTL in seconds (default 4; 20 on moto)")
    parser.add_argument("--poll", help="seconds between a waiting node's tries (default 1)")
    args = parser.parse_args()
    overrides = {k: v for k, v in (("DRIFTLESS_FLEET_TTL", args.ttl),
                                   ("DRIFTLESS_FLEET_POLL", args.poll)) if v}
    kinds = ["etcd", "dynamodb", "postgres"] if args.store == "all" else [args.store]
    failed = False
    for kind in kinds:
        try:
            measured = run_one(kind, args.nodes, args.kills, args.seed, overrides)
            print(f"{kind}: N={args.nodes} kills={args.kills}: {json.dumps(measured)}",
                  flush=True)
        except AssertionError as exc:
            failed = True
            print(f"{kind}: FAILED: {exc}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
