"""Fixtures shared by the state tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import driftless.state.sqlite as sqlite_mod
from driftless.state.packed import unpack


@pytest.fixture
def count_inflated(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[object]]:
    """Call it to start counting the stored documents the SQLite backend inflates
    from then on (a row-cache miss inflates every row); the list it returns fills up."""

    def start() -> list[object]:
        inflated: list[object] = []

        def counting(value: str | bytes) -> str:
            inflated.append(value)
            return unpack(value)

        monkeypatch.setattr(sqlite_mod, "unpack", counting)
        return inflated

    return start
