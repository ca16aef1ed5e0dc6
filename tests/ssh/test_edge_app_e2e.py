"""Scenario 2 end to end: examples/edge-app with its network and edge stacks against a
moto server and its app layer over SSH to two real sshd hosts on loopback.

The example is copied as is; only driftless.yaml's inventory (the two loopback hosts,
each with its own base_dir and setup marker, since both live on this machine) and
providers.ssh (the test's key and known_hosts) are rewritten. systemd is not PID 1
here, so the app runs as ``unit_kind: service`` (the example's switch for such hosts).
The app repository is a local git repository with install.sh and bin/serve.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sshd_servers import Sshd, write_known_hosts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cli_helpers import popen, run
from driftless.providers.local import supervise
from servers import moto_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "edge-app"
SERVE = """#!/bin/sh
exec python3 -c 'import os,time; print("serving",os.environ["COLOR"],flush=True); time.sleep(3600)'
"""


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


def _app_repo(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "install.sh").write_text("#!/bin/sh\ntest -x bin/serve\n")
    (path / "bin" / "serve").write_text(SERVE)
    (path / "install.sh").chmod(0o755)
    (path / "bin" / "serve").chmod(0o755)
    (path / "VERSION").write_text("1\n")
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", ".")
    _git(path, "commit", "-q", "-m", "v1")
    return path


@pytest.fixture
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with moto_server(tmp_path) as url:
        for key, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "x",
                           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "eu-central-1",
                           "DRIFTLESS_VAR_api_token": "tok-123",
                           "DRIFTLESS_VAR_db_password": "pw-456"}.items():
            monkeypatch.setenv(key, value)
        yield url


def _stop_services(root: Path) -> None:
    for status_file in root.glob("host*/opt/.services/*/status.json"):
        status = supervise.load_status(status_file)
        if status:
            supervise.stop(status, stop_timeout=0.5)


def _log(root: Path, host: str) -> Path:
    found = list((root / host / "opt/.services").glob("app*/service.log"))
    assert len(found) == 1, found
    return found[0]


def _starts(root: Path, host: str) -> int:
    return _log(root, host).read_text().count("started pid")


def _wait_for(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_edge_app_scenario(tmp_path: Path, client_key: Path, new_sshd: list[Sshd],
                           moto: str) -> None:
    for name in ("a", "b"):
        new_sshd.append(Sshd(tmp_path / f"sshd-{name}", client_key).start())
    root = tmp_path / "edge-app"
    subprocess.run(["cp", "-r", str(EXAMPLE), str(root)], check=True)
    repo = _app_repo(tmp_path / "repo")
    for i in (1, 2):
        (tmp_path / f"host{i}" / "opt").mkdir(parents=True)  # a host has its /opt
    project = yaml.safe_load((root / "driftless.yaml").read_text())
    project["inventory"]["hosts"] = {
        f"edge-{i}": {"target": s.url, "vars": {"base_dir": str(tmp_path / f"host{i}/opt"),
                                                "setup_marker": str(tmp_path / f"host{i}/done")}}
        for i, s in enumerate(new_sshd, 1)}
    project["providers"]["ssh"] = {"identity": str(client_key), "connect_timeout": 5,
                                   "known_hosts": [str(write_known_hosts(
                                       tmp_path / "known_hosts", new_sshd))]}
    (root / "driftless.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    app = ["--var", "target=edge", "--var", "unit_kind=service", "--var", f"app_repo={repo}"]
    first: subprocess.Popen[str] | None = None
    try:
        # infrastructure: network and edge against moto
        run(root, "apply", "--env", "stage", "--stack", "edge", "--auto-approve", check=True)

        # the first app apply waits for each host's setup marker, then proceeds
        first = popen(root, "apply", "--env", "stage", "--stack", "app", *app, "--auto-approve")
        assert first.stdout is not None
        seen: list[str] = []
        for line in first.stdout:  # the plan is printed before the apply starts waiting
            seen.append(line)
            if "marker_wait/setup_done.edge-2" in line and "create" in line:
                break
        time.sleep(1.0)
        assert first.poll() is None, "".join(seen) + first.communicate()[0]
        assert not (tmp_path / "host1/opt/dashboard").exists()  # nothing past the marker yet
        for i in (1, 2):
            (tmp_path / f"host{i}/done").write_text("ok\n")
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, "".join(seen) + out + err
        for host in ("host1", "host2"):
            log = _log(tmp_path, host)
            _wait_for(lambda log=log: "serving orange" in log.read_text())
            assert "serving orange" in log.read_text()  # stage's colour, from the .env
            assert _starts(tmp_path, host) == 1

        # a colour change: no infrastructure change, one restart per host
        plan = run(root, "plan", "--env", "stage", *app, "--var", "color=green", check=True)
        text = plan.stdout
        for stack in ("network", "edge"):  # no infrastructure change
            assert re.search(rf"stack {stack} .*\n\s+No changes\.", text), text
        assert "aws:" not in text, text
        assert "Plan: 0 to create, 4 to update, 0 to replace, 0 to delete." in text, text
        assert len(re.findall(r"~ ssh:service/app\.edge-[12]\[0\] +update", text)) == 2, text
        assert len(re.findall(r"~ ssh:env_file/env\.edge-[12] +update", text)) == 2, text
        run(root, "apply", "--env", "stage", "--stack", "app", *app, "--var", "color=green",
            "--auto-approve", check=True)
        for host in ("host1", "host2"):
            assert _starts(tmp_path, host) == 2
            log = _log(tmp_path, host)
            _wait_for(lambda log=log: "serving green" in log.read_text())
            assert "serving green" in log.read_text()

        # a new git_ref deploys to both hosts
        (repo / "VERSION").write_text("2\n")
        _git(repo, "commit", "-q", "-am", "v2")
        _git(repo, "tag", "v2")
        run(root, "apply", "--env", "stage", "--stack", "app", *app, "--var", "color=green",
            "--var", "git_ref=v2", "--auto-approve", check=True)
        for host in ("host1", "host2"):
            assert (tmp_path / host / "opt/dashboard/VERSION").read_text() == "2\n"
            assert _starts(tmp_path, host) == 3
        final = run(root, "plan", "--env", "stage", *app, "--var", "color=green",
                    "--var", "git_ref=v2", check=True)
        assert "no changes" in final.stdout.lower(), final.stdout
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.communicate()
        _stop_services(tmp_path)
