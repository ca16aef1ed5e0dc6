"""The coordinator conformance suite against every backend, each on a real store."""

from __future__ import annotations

import time
import uuid

import pytest
from pg_helpers import PgServer

from driftless.fleet.base import Coordinator
from driftless.fleet.dynamo import DynamoCoordinator
from driftless.fleet.etcd import EtcdCoordinator
from driftless.fleet.memory import MemoryCoordinator
from driftless.fleet.postgres import PostgresCoordinator
from driftless.fleet.testing import CHECKS, check_coordinator, check_race

NAMES = [c.__name__ for c in CHECKS]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("check", NAMES)
def test_memory(check: str) -> None:
    clock = _Clock()
    check_coordinator(lambda: MemoryCoordinator(clock=clock), clock.advance, only=check)


@pytest.mark.parametrize("check", NAMES)
def test_etcd(check: str, etcd_url: str) -> None:
    def make() -> Coordinator:
        return EtcdCoordinator(etcd_url, prefix=f"/t/{uuid.uuid4().hex[:8]}")
    check_coordinator(make, time.sleep, only=check)


@pytest.mark.parametrize("check", NAMES)
def test_dynamodb(check: str, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_CONFIG_FILE": "/dev/null",
                       "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(key, value)

    def make() -> Coordinator:
        coord = DynamoCoordinator(f"fleet-{uuid.uuid4().hex[:8]}", region="us-east-1",
                                  endpoint=moto_url)
        coord.create_table()
        return coord
    check_coordinator(make, time.sleep, only=check)


@pytest.mark.parametrize("check", NAMES)
def test_postgres(check: str, pg_server: PgServer) -> None:
    def make() -> Coordinator:
        return PostgresCoordinator(pg_server.url(schema=f"f_{uuid.uuid4().hex[:10]}"))
    check_coordinator(make, time.sleep, only=check)


def test_race_memory() -> None:
    shared = MemoryCoordinator()
    check_race(lambda: shared)


def test_race_etcd(etcd_url: str) -> None:
    prefix = f"/race/{uuid.uuid4().hex[:8]}"
    check_race(lambda: EtcdCoordinator(etcd_url, prefix=prefix))


def test_race_dynamodb(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_CONFIG_FILE": "/dev/null",
                       "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(key, value)
    table = f"race-{uuid.uuid4().hex[:8]}"
    DynamoCoordinator(table, region="us-east-1", endpoint=moto_url).create_table()
    check_race(lambda: DynamoCoordinator(table, region="us-east-1", endpoint=moto_url))


def test_race_postgres(pg_server: PgServer) -> None:
    url = pg_server.url(schema=f"race_{uuid.uuid4().hex[:10]}")
    PostgresCoordinator(url).close()  # creates the tables once, before the racers
    check_race(lambda: PostgresCoordinator(url))
