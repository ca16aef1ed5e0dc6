"""Fixtures: real sshd servers on loopback, a client key, a known_hosts file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftless.providers.ssh import SshProvider

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sshd_servers import Sshd, available, keygen, write_known_hosts

if not available():
    pytest.fail("sshd is not installed: run scripts/test-deps.sh", pytrace=False)


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("sshclient") / "id_ed25519"
    keygen(key)
    return key


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory, client_key: Path) -> Iterator[Sshd]:
    """One server for the whole session (the conformance suite)."""
    server = Sshd(tmp_path_factory.mktemp("sshd"), client_key).start()
    yield server
    server.stop()


@pytest.fixture
def new_sshd(tmp_path: Path, client_key: Path) -> Iterator[list[Sshd]]:
    """Servers a test starts (and may kill); all stopped at the end."""
    started: list[Sshd] = []
    yield started
    for s in started:
        s.stop()


def make_provider(known_hosts: Path, client_key: Path, **extra: object) -> SshProvider:
    p = SshProvider()
    p.configure({"identity": str(client_key), "known_hosts": [str(known_hosts)],
                 "connect_timeout": 5, **extra})
    return p


@pytest.fixture
def provider(sshd: Sshd, client_key: Path, tmp_path: Path) -> Iterator[SshProvider]:
    p = make_provider(write_known_hosts(tmp_path / "known_hosts", [sshd]), client_key)
    yield p
    p.close()
