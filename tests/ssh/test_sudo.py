"""``?sudo=1`` targets: the host helper runs under ``sudo -n``, and file contents go
through it instead of SFTP. Against a real sshd (logged in as root, for whom sudo
needs no password: the mechanics, not an elevation) and the local conformance cases."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sshd_servers import Sshd

from driftless.model import Resource
from driftless.providers.ssh import SshProvider
from driftless.providers.ssh.target import parse_target
from driftless.providers.testing import ConformanceCase, check_provider

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "providers"))
from test_conformance_local import CASES


def _moved(case: ConformanceCase, url: str) -> ConformanceCase:
    def move(r: Resource) -> Resource:
        return replace(r, id=r.id._replace(provider="ssh"),
                       properties={**r.properties, "ssh_target": url})
    return replace(case, resource=move(case.resource), updated=move(case.updated))


@pytest.mark.parametrize("case", ["file", "file-sensitive", "directory", "env_file", "command"])
def test_conformance_under_sudo(case: str, provider: SshProvider, sshd: Sshd,
                                tmp_path: Path) -> None:
    url = f"{sshd.url}?sudo=1"
    check_provider(provider, [_moved(CASES[case](tmp_path), url)])
    conn = provider.transport().connection(parse_target(url))
    assert conn.target.sudo
    parent = Path(f"/proc/{conn.helper_pid}/status").read_text()
    ppid = next(line.split()[1] for line in parent.splitlines() if line.startswith("PPid:"))
    assert "sudo" in Path(f"/proc/{ppid}/cmdline").read_bytes().decode()
