"""Fixtures shared by the provider tests."""

from __future__ import annotations

import pytest

from driftless.providers.local._host import LocalHost


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the file kinds hashed (read and digested) during the test."""
    seen: list[str] = []
    real = LocalHost.file_digest

    def counting(host: LocalHost, path: str, *, keyed: bool) -> str:
        seen.append(path)
        return real(host, path, keyed=keyed)

    monkeypatch.setattr(LocalHost, "file_digest", counting)
    return seen
