"""The provider conformance suite for every kind of the ssh provider, against a real sshd.

The local provider's own cases (tests/providers/test_conformance_local.py),
each resource moved to ``ssh:`` with ``ssh_target`` pointing at an sshd on
loopback: the files land on this machine, under tmp_path, but every stat,
hash, write, command and git call goes through SSH and the host helper.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from driftless.model import Resource, ResourceId
from driftless.providers.ssh import KINDS, SshProvider
from driftless.providers.testing import ConformanceCase, check_provider

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "providers"))
from sshd_servers import Sshd
from test_conformance_local import CASES


def _over_ssh(case: ConformanceCase, url: str) -> ConformanceCase:
    def moved(r: Resource) -> Resource:
        return replace(r, id=r.id._replace(provider="ssh"),
                       properties={**r.properties, "ssh_target": url})
    return replace(case, resource=moved(case.resource), updated=moved(case.updated))


@pytest.mark.parametrize("case", list(CASES))
def test_conformance_over_ssh(case: str, provider: SshProvider, sshd: Sshd,
                              tmp_path: Path) -> None:
    # connect first: the marker case touches its file 0.3 s after it is built
    warm = Resource(ResourceId("ssh", "file", "warm"),
                    {"path": str(tmp_path / "warm"), "ssh_target": sshd.url})
    assert provider.read(warm, None) is None
    check_provider(provider, [_over_ssh(CASES[case](tmp_path), sshd.url)])


def test_every_kind_has_a_case() -> None:
    covered = {case.removesuffix("-sensitive") for case in CASES}
    # systemd_unit needs systemd as the host's PID 1, which these hosts lack (as the local
    # suite does, it is not run through the life cycle here: test_systemd_over_ssh.py);
    # service has its own case with a real server, as locally: test_service_over_ssh.py
    assert set(KINDS) - {"systemd_unit", "service"} <= covered
