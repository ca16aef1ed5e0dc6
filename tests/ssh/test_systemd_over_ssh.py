"""systemd_unit over SSH: the unit file is read and compared on the host; without
systemd as the host's PID 1 (these loopback hosts) create refuses, naming the host,
and writes nothing. A host with systemd gets daemon-reload/enable/restart through
the same host seam."""

from __future__ import annotations

from pathlib import Path

import pytest
from sshd_servers import Sshd

from driftless.errors import ProviderError
from driftless.model import Action, Change, Resource, ResourceId
from driftless.providers.local.systemd import render_unit, systemd_running
from driftless.providers.ssh import SshProvider

RID = ResourceId("ssh", "systemd_unit", "edge")


@pytest.mark.skipif(systemd_running(), reason="this machine runs systemd as PID 1")
def test_systemd_unit_over_ssh_reads_the_host_and_refuses_without_systemd(
        provider: SshProvider, sshd: Sshd, tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    props = {"name": "edge", "exec_start": "/bin/true", "unit_dir": str(units),
             "ssh_target": sshd.url}
    desired = Resource(RID, props)
    assert provider.read(desired, None) is None
    with pytest.raises(ProviderError) as err:
        provider.apply(Change(RID, Action.CREATE, desired))
    assert f"systemd is not running as PID 1 on {sshd.url}" in str(err.value)
    assert list(units.iterdir()) == []
    h = provider.handler(RID)
    local = type(h).local  # type: ignore[attr-defined]
    bare = Resource(ResourceId("local", "systemd_unit", "edge"),
                    {k: v for k, v in props.items() if k != "ssh_target"})
    (units / "edge.service").write_text(render_unit(local.parse(bare)))
    live = provider.read(desired, None)
    assert live is not None and live.attributes["ssh_target"] == sshd.url
    assert provider.diff(desired, live).action is Action.NOOP
    provider.apply(Change(RID, Action.DELETE, None, live))
    assert not (units / "edge.service").exists()
