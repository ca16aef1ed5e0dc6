"""Real coordination stores for the fleet tests: etcd, a moto server (DynamoDB), PostgreSQL.

One server of each per session, started on loopback ports by these fixtures.
Every test gets its own namespace (etcd prefix, DynamoDB table, PostgreSQL
schema), so tests never see each other's keys.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "state_pg"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet_servers import etcd_server
from pg_helpers import PgServer, running_server

from servers import moto_server


@pytest.fixture(scope="session")
def etcd_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the session's etcd."""
    with etcd_server(tmp_path_factory.mktemp("etcd")) as url:
        yield url


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the session's moto server (DynamoDB, EC2, instance metadata), serving
    one request at a time (see serial_moto.py)."""
    with moto_server(tmp_path_factory.mktemp("moto"), serial=True) as url:
        yield url


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server (tests/state_pg's helper)."""
    with running_server() as server:
        yield server
