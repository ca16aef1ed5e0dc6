"""Secrets over SSH: a command's secret env travels on the helper's channel (never in
an argv that ps on the host shows), its output is masked, and an env file's values
reach the host's file but never attributes or errors."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from sshd_servers import Sshd

from driftless.model import Action, Change, Resource, ResourceId, Sensitive
from driftless.providers.ssh import SshProvider

CANARY = "canary-7f3a9c-s3cret"


def _cmdlines() -> str:
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                out.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace"))
            except OSError:
                continue
    return "\n".join(out)


def test_a_secret_env_is_never_in_a_process_list_and_output_is_masked(
        provider: SshProvider, sshd: Sshd) -> None:
    rid = ResourceId("ssh", "command", "deploy")
    cmd = Resource(rid, {"command": "sleep 0.6; echo token=$TOKEN",
                         "env": {"TOKEN": Sensitive(CANARY)}, "ssh_target": sshd.url})
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(_cmdlines())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        live = provider.apply(Change(rid, Action.CREATE, cmd, None))
    finally:
        done.set()
        watcher.join()
    assert live is not None
    assert any("sleep 0.6" in s for s in seen)  # the watcher saw the command run
    assert not any(CANARY in s for s in seen)
    assert CANARY not in repr(live.attributes) and "token=(sensitive)" in live.attributes["stdout"]


def test_an_env_file_secret_reaches_the_file_only(provider: SshProvider, sshd: Sshd,
                                                   tmp_path: Path) -> None:
    rid = ResourceId("ssh", "env_file", "app")
    path = tmp_path / ".env"
    res = Resource(rid, {"path": str(path), "values": {"DB": Sensitive(CANARY)},
                         "ssh_target": sshd.url})
    live = provider.apply(Change(rid, Action.CREATE, res, None))
    assert live is not None
    assert path.read_text() == f"DB={CANARY}\n"
    assert CANARY not in repr(live.attributes) + repr(live.private)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
