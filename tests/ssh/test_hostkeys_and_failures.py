"""Host keys (known, unknown, changed, trusted on first use) and hosts that fail.

Real sshd servers on loopback; a host that is down or whose key changed fails
only its own resources, with an error naming the host and both fingerprints.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from sshd_servers import Sshd, write_known_hosts

from conftest import make_provider
from driftless.errors import ProviderError
from driftless.model import Action, Change, Resource, ResourceId
from driftless.providers.ssh import SshProvider


def _file(url: str, path: Path, content: str = "hi\n") -> Resource:
    return Resource(ResourceId("ssh", "file", path.name),
                    {"path": str(path), "content": content, "ssh_target": url})


def _apply(p: SshProvider, r: Resource) -> None:
    p.apply(Change(r.id, Action.CREATE, r, None))


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True,
                         check=True).stdout
    return out.split()[1]


def test_a_changed_host_key_is_refused_naming_both_fingerprints(
        new_sshd: list[Sshd], client_key: Path, tmp_path: Path) -> None:
    server = Sshd(tmp_path / "srv", client_key)
    server.prepare()
    known = write_known_hosts(tmp_path / "known_hosts", [server])
    old = _fingerprint(server.dir / "host_key.pub")
    (server.dir / "host_key").unlink()
    (server.dir / "host_key.pub").unlink()
    new_sshd.append(server.start())  # a new host key: the machine was replaced
    new = _fingerprint(server.dir / "host_key.pub")
    p = make_provider(known, client_key)
    try:
        with pytest.raises(ProviderError) as err:
            _apply(p, _file(server.url, tmp_path / "f"))
    finally:
        p.close()
    text = str(err.value)
    assert "changed" in text and old in text and new in text
    assert str(ResourceId("ssh", "file", "f")) in text


def test_an_unknown_host_is_refused_unless_trust_on_first_use(
        sshd: Sshd, client_key: Path, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    p = make_provider(empty, client_key)
    try:
        with pytest.raises(ProviderError, match="not in known_hosts"):
            _apply(p, _file(sshd.url, tmp_path / "f"))
    finally:
        p.close()
    tofu = tmp_path / "state" / "ssh_known_hosts"
    p = make_provider(empty, client_key, trust_on_first_use=True, tofu_file=str(tofu))
    try:
        assert p.read(_file(sshd.url, tmp_path / "f"), None) is None
    finally:
        p.close()
    assert tofu.read_text() == sshd.host_key_line()  # recorded: checked from now on
    p = make_provider(empty, client_key, tofu_file=str(tofu))  # TOFU off again
    try:
        assert p.read(_file(sshd.url, tmp_path / "f"), None) is None
    finally:
        p.close()


def test_a_host_that_is_down_fails_only_its_resources(
        sshd: Sshd, new_sshd: list[Sshd], client_key: Path, tmp_path: Path) -> None:
    down = Sshd(tmp_path / "down", client_key)
    down.prepare()  # never started: connection refused
    known = write_known_hosts(tmp_path / "known_hosts", [sshd, down])
    p = make_provider(known, client_key)
    try:
        with pytest.raises(ProviderError, match=rf"127\.0\.0\.1:{down.port}.*cannot connect"):
            _apply(p, _file(down.url, tmp_path / "a"))
        _apply(p, _file(sshd.url, tmp_path / "b"))
    finally:
        p.close()
    assert (tmp_path / "b").read_text() == "hi\n"


def test_refused_authentication_is_a_clear_error(
        sshd: Sshd, client_key: Path, tmp_path: Path) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    p = make_provider(write_known_hosts(tmp_path / "kh", [sshd]), other)
    try:
        with pytest.raises(ProviderError, match="authentication refused"):
            _apply(p, _file(sshd.url, tmp_path / "f"))
    finally:
        p.close()


def test_a_dropped_connection_is_opened_again(
        new_sshd: list[Sshd], client_key: Path, tmp_path: Path) -> None:
    server = Sshd(tmp_path / "srv", client_key)
    new_sshd.append(server.start())
    p = make_provider(write_known_hosts(tmp_path / "kh", [server]), client_key)
    try:
        r = _file(server.url, tmp_path / "f")
        live = p.apply(Change(r.id, Action.CREATE, r, None))
        server.stop()  # kills the connection mid-run
        unreachable = p.read(r, live)  # the plan goes on; the change says why
        change = p.diff(r, unreachable)
        assert change.action is Action.UPDATE
        assert re.search(r"host unreachable.*(cannot connect|connection lost)", change.reason)
        with pytest.raises(ProviderError, match=r"cannot connect"):
            p.apply(change)
        server.start()
        again = p.read(r, live)  # the next request reconnects
        assert again is not None and again.attributes["ssh_target"] == server.url
        assert p.diff(r, again).action is Action.NOOP
    finally:
        p.close()
