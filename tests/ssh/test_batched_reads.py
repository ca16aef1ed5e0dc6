"""A no-op plan over SSH reads a host's files in one round trip (the planner's prefetch
hook and ``lstat_many``), and a file changed on the host is still found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sshd_servers import Sshd

from driftless.engine import Engine
from driftless.model import DesiredStack, Resource, ResourceId
from driftless.providers import ProviderSet
from driftless.providers.ssh import SshProvider
from driftless.providers.ssh.transport import Connection
from driftless.state.sqlite import from_url


def _desired(url: str, out: Path, n: int) -> DesiredStack:
    res = tuple(Resource(ResourceId("ssh", "file", f"f{i}"),
                         {"path": str(out / f"f{i}"), "content": f"{i}\n", "ssh_target": url})
                for i in range(n))
    return DesiredStack("s", res, "d")


def test_a_noop_plan_costs_one_round_trip_per_host(
        provider: SshProvider, sshd: Sshd, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    providers = ProviderSet()
    providers.add(provider)
    eng = Engine(providers=providers, backend=from_url("sqlite:///s.db", tmp_path), workers=4)
    desired = _desired(sshd.url, tmp_path, 20)
    eng.apply(eng.plan(desired), desired)
    ops: list[str] = []
    real = Connection._request

    async def counting(self: Connection, op: str, args: Any, *, retry: bool) -> Any:
        ops.append(op)
        return await real(self, op, args, retry=retry)

    monkeypatch.setattr(Connection, "_request", counting)
    assert not eng.plan(desired).pending()
    assert ops == ["lstat_many"]
    (tmp_path / "f3").write_text("changed on the host\n")
    ops.clear()
    drift = eng.plan(desired).pending()
    assert [str(c.id) for c in drift] == ["ssh:file/f3"]
    assert ops.count("lstat_many") == 1 and ops.count("sha256") == 1
