"""The provider conformance suite for every kind of the ssh provider, against a real sshd.

The same cases as the local provider's, with ``ssh_target`` pointing at an sshd on
loopback (the files land on this machine, under tmp_path, through SSH).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sshd_servers import Sshd

from driftless.model import Resource, ResourceId, Sensitive
from driftless.providers.ssh import SshProvider
from driftless.providers.testing import ConformanceCase, check_provider


def _cases(url: str) -> dict[str, Callable[[Path], ConformanceCase]]:
    def res(kind: str, **props: Any) -> Resource:
        return Resource(ResourceId("ssh", kind, "conf"), {**props, "ssh_target": url})

    def file(tmp: Path) -> ConformanceCase:
        path = str(tmp / "motd")
        return ConformanceCase(res("file", path=path, content="hello\n", mode="0644"),
                               res("file", path=path, content="bye\n", mode="0600"), path)

    def secret_file(tmp: Path) -> ConformanceCase:
        path = str(tmp / "token")
        return ConformanceCase(res("file", path=path, content=Sensitive("s3cret")),
                               res("file", path=path, content=Sensitive("other")), path)

    def directory(tmp: Path) -> ConformanceCase:
        path = str(tmp / "d")
        return ConformanceCase(res("directory", path=path, mode="0755"),
                               res("directory", path=path, mode="0700"), path)

    def symlink(tmp: Path) -> ConformanceCase:
        path = str(tmp / "current")
        return ConformanceCase(res("symlink", path=path, target="/etc/hostname"),
                               res("symlink", path=path, target="/etc/hosts"), path)

    def template(tmp: Path) -> ConformanceCase:
        path = str(tmp / "app.conf")
        text = "port={{ port }}\npassword={{ pw }}\n"
        return ConformanceCase(
            res("template", path=path, template=text, vars={"port": 80, "pw": Sensitive("a")}),
            res("template", path=path, template=text, vars={"port": 81, "pw": Sensitive("a")}),
            path)

    def env_file(tmp: Path) -> ConformanceCase:
        path = str(tmp / ".env")
        return ConformanceCase(
            res("env_file", path=path, values={"COLOR": "blue", "TOKEN": Sensitive("t0k")}),
            res("env_file", path=path, values={"COLOR": "green", "TOKEN": Sensitive("t0k")}),
            path)

    return {"file": file, "secret_file": secret_file, "directory": directory,
            "symlink": symlink, "template": template, "env_file": env_file}


CASES = ["file", "secret_file", "directory", "symlink", "template", "env_file"]


@pytest.mark.parametrize("case", CASES)
def test_conformance_over_ssh(case: str, provider: SshProvider, sshd: Sshd,
                              tmp_path: Path) -> None:
    check_provider(provider, [_cases(sshd.url)[case](tmp_path)])


def test_every_kind_has_a_case() -> None:
    assert set(SshProvider().kinds()) <= {c.removeprefix("secret_") for c in CASES}
