"""A real PostgreSQL server for the PostgreSQL state backend tests, and a schema per test.

One server per test session (per xdist worker), see ``pg_helpers``. Every
test gets its own schema, so tests never see each other's stacks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pg_helpers import PgServer, running_server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL server."""
    with running_server() as server:
        yield server


@pytest.fixture
def pg_schema() -> str:
    """A fresh schema name: each test's state is its own."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_url(pg_server: PgServer, pg_schema: str) -> str:
    """A state URL on the session's server, in this test's own schema."""
    return pg_server.url(schema=pg_schema)
