"""A real AWS API on loopback: one moto server per test session.

``moto_endpoint`` starts ``moto_server`` on a free port and yields its URL;
``aws_env`` points boto3 at dummy credentials and resets moto's state, so
each test starts from an empty account. boto3 talks HTTP to the server:
no decorators, no patched clients.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from servers import moto_server, reset_moto

__all__ = ["REGION", "reset_moto"]

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto server running for the whole session."""
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy credentials and region in the environment, moto reset; the URL."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    reset_moto(moto_endpoint)
    return moto_endpoint
