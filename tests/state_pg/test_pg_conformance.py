"""The state conformance suite against a real PostgreSQL server, clear and encrypted."""

from __future__ import annotations

import time
from pathlib import Path

import pyrage
import pytest

from driftless.errors import StateError
from driftless.model import LockInfo, StateSnapshot
from driftless.state import open_backend
from driftless.state.testing import CHECKS, Check


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_postgres_conforms(check: Check, pg_url: str) -> None:
    check(lambda: open_backend(pg_url, root=Path(".")))


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_both_schemes_open_the_same_state(scheme: str, pg_url: str) -> None:
    writer = open_backend(pg_url, root=Path("."))
    writer.write("web", StateSnapshot.empty().next(outputs={"n": 1}))
    reader = open_backend(pg_url.replace("postgres://", f"{scheme}://", 1), root=Path("."))
    assert reader.read("web").outputs == {"n": 1}
    writer.close()
    reader.close()


@pytest.fixture
def sealed_url(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The state URL with an age key in the operator's environment."""
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", str(pyrage.x25519.Identity.generate()))
    return pg_url


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_encrypted_postgres_conforms(check: Check, sealed_url: str) -> None:
    check(lambda: open_backend(sealed_url, root=Path(".")))


def test_encrypted_state_is_fenced_too(sealed_url: str) -> None:
    """The encryption decorator passes lock and write to the same PostgreSQL client."""
    one, two = open_backend(sealed_url, root=Path(".")), open_backend(sealed_url, root=Path("."))
    one.lock("web", LockInfo.new("apply", lease=0.1))
    base = one.read("web")
    time.sleep(0.2)
    two.lock("web", LockInfo.new("apply"))
    with pytest.raises(StateError, match="lock lost"):
        one.write("web", base.next(outputs={"secret": "x"}))
