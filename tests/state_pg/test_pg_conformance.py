"""The state conformance suite against a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.state import open_backend
from driftless.state.testing import CHECKS, Check


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_postgres_conforms(check: Check, pg_url: str) -> None:
    check(lambda: open_backend(pg_url, root=Path(".")))


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_both_schemes_open_the_same_state(scheme: str, pg_url: str) -> None:
    from driftless.model import StateSnapshot

    writer = open_backend(pg_url, root=Path("."))
    writer.write("web", StateSnapshot.empty().next(outputs={"n": 1}))
    reader = open_backend(pg_url.replace("postgres://", f"{scheme}://", 1), root=Path("."))
    assert reader.read("web").outputs == {"n": 1}
    writer.close()
    reader.close()
