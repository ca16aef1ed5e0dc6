"""Shared fixtures: real git repositories, SQLite state, real local processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep every test's git and driftless settings inside its tmp dir."""
    home = tmp_path / "_home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "driftless-test")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@driftless.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "driftless-test")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@driftless.invalid")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    # one known digest key, so render digests in golden files are the same on every
    # machine (tests of the key itself set or unset these variables themselves)
    monkeypatch.setenv("DRIFTLESS_DIGEST_KEY", "driftless-test-digest-key-0001")
    monkeypatch.delenv("CI", raising=False) if os.environ.get("DRIFTLESS_KEEP_CI") is None else None
    yield
