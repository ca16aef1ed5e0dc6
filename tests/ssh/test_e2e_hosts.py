"""Two real sshd hosts through the CLI: a group target, a host that fails, a re-run.

The stack renders once per inventory host; both hosts are sshd servers on
loopback (this machine), so each writes under its own directory
(``${host.name}``). A host that is down, or whose sshd is killed in the
middle of an apply, fails only its own resources; the other host's apply
goes through, and the next apply converges.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sshd_servers import Sshd, write_known_hosts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cli_helpers import popen, run


def _project(root: Path, hosts: list[Sshd], client_key: Path, *, content: str = "v1",
             sleep: float = 0.0) -> Path:
    out = root / "out"
    out.mkdir(parents=True, exist_ok=True)
    resources: dict[str, Any] = {
        "dir": {"type": "local:directory",
                "properties": {"path": f"{out}/${{host.name}}", "mode": "0755"}},
        "slow": {"type": "local:command", "depends_on": ["dir"],
                 "properties": {"command": f"touch {out}/${{host.name}}.started; sleep {sleep}",
                                "triggers": {"c": content}}},
    }
    for i in range(10):
        resources[f"f{i}"] = {"type": "local:file", "depends_on": ["slow"], "properties": {
            "path": f"{out}/${{host.name}}/f{i}", "content": f"{content} ${{host.name}} {i}\n"}}
    project = {
        "project": "edge", "state": "sqlite:///.driftless/state.db", "stacks": ["stacks/app"],
        "providers": {"ssh": {"identity": str(client_key),
                              "known_hosts": [str(root / "known_hosts")], "connect_timeout": 3}},
        "inventory": {"hosts": {f"h{i}": s.url for i, s in enumerate(hosts, 1)},
                      "groups": {"edge": [f"h{i}" for i in range(1, len(hosts) + 1)]}},
    }
    write_known_hosts(root / "known_hosts", hosts)
    (root / "stacks" / "app").mkdir(parents=True, exist_ok=True)
    (root / "driftless.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (root / "stacks" / "app" / "stack.yaml").write_text(
        yaml.safe_dump({"target": "edge", "resources": resources}, sort_keys=False))
    return root


@pytest.fixture
def two_hosts(tmp_path: Path, client_key: Path, new_sshd: list[Sshd]) -> list[Sshd]:
    for name in ("a", "b"):
        new_sshd.append(Sshd(tmp_path / f"sshd-{name}", client_key).start())
    return new_sshd


def _contents(root: Path, host: str) -> set[str]:
    return {p.read_text() for p in (root / "out" / host).glob("f*")}


def test_apply_to_two_hosts_then_a_noop_plan(tmp_path: Path, client_key: Path,
                                             two_hosts: list[Sshd]) -> None:
    root = _project(tmp_path / "p", two_hosts, client_key)
    run(root, "apply", "--auto-approve", check=True)
    for host in ("h1", "h2"):
        assert _contents(root, host) == {f"v1 {host} {i}\n" for i in range(10)}
    plan = run(root, "plan", check=True)
    assert "no changes" in plan.stdout.lower(), plan.stdout


def test_one_sshd_killed_mid_apply_then_down_fails_that_host_only(
        tmp_path: Path, client_key: Path, two_hosts: list[Sshd]) -> None:
    root = _project(tmp_path / "p", two_hosts, client_key)
    run(root, "apply", "--auto-approve", check=True)
    _project(root, two_hosts, client_key, content="v2", sleep=2)
    started = root / "out" / "h1.started"
    started.unlink()

    def kill_when_running() -> None:  # while h1 runs its `sleep 2` over SSH
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        two_hosts[0].stop()

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    failed = run(root, "apply", "--auto-approve")
    killer.join()
    assert failed.returncode != 0
    assert "connection lost" in failed.stdout + failed.stderr, failed.stdout + failed.stderr
    assert _contents(root, "h2") == {f"v2 h2 {i}\n" for i in range(10)}
    # h1 stays down: its resources fail with a clear error, h2 applies the next change
    _project(root, two_hosts, client_key, content="v3")
    down = run(root, "apply", "--auto-approve")
    text = down.stdout + down.stderr
    assert down.returncode != 0
    assert f"127.0.0.1:{two_hosts[0].port}: cannot connect" in text, text
    assert "host unreachable, cannot check" in text  # the plan says why, per resource
    assert _contents(root, "h2") == {f"v3 h2 {i}\n" for i in range(10)}
    assert _contents(root, "h1") == {f"v1 h1 {i}\n" for i in range(10)}  # untouched
    two_hosts[0].start()
    run(root, "apply", "--auto-approve", check=True)
    assert _contents(root, "h1") == {f"v3 h1 {i}\n" for i in range(10)}
    assert "no changes" in run(root, "plan", check=True).stdout.lower()


def test_kill_9_of_driftless_mid_apply_is_recovered_over_ssh(
        tmp_path: Path, client_key: Path, two_hosts: list[Sshd]) -> None:
    root = _project(tmp_path / "p", two_hosts, client_key)
    run(root, "apply", "--auto-approve", check=True)
    _project(root, two_hosts, client_key, content="v2", sleep=20)
    started = root / "out" / "h1.started"
    started.unlink()
    proc = popen(root, "apply", "--auto-approve")
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # intents written, commands running on both hosts
    proc.communicate()
    _project(root, two_hosts, client_key, content="v2")
    again = run(root, "apply", "--auto-approve", check=True)
    assert "adopted after an interrupted update" in again.stdout, again.stdout
    for host in ("h1", "h2"):
        assert _contents(root, host) == {f"v2 {host} {i}\n" for i in range(10)}
    assert "no changes" in run(root, "plan", check=True).stdout.lower()
