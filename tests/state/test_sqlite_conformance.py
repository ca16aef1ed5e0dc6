"""The SQLite backend passes the shared state backend conformance suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.state.base import StateBackend
from driftless.state.sqlite import SQLiteBackend
from driftless.state.testing import CHECKS, Check, check_backend


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_sqlite_conforms(check: Check, tmp_path: Path) -> None:
    def make_backend() -> StateBackend:
        return SQLiteBackend(tmp_path / "state.db")

    check(make_backend)


def test_check_backend_runs_every_check_on_one_shared_store(tmp_path: Path) -> None:
    made: list[SQLiteBackend] = []

    def make_backend() -> StateBackend:
        made.append(SQLiteBackend(tmp_path / "shared" / "state.db"))
        return made[-1]

    check_backend(make_backend)
    assert len(made) > len(CHECKS), "some checks must use two clients"
    assert len(SQLiteBackend(tmp_path / "shared" / "state.db").stacks()) >= 5
