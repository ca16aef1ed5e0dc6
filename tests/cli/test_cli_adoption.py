"""Issue 11 item 3: after state.db is lost or ``state rm``, existing files, a
directory, a symlink and a running service are reported as not managed,
refused by apply, adopted with ``--adopt``, and removed by a later destroy."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run, write_project
from servers import free_port


def _project(root: Path) -> dict[str, Path]:
    """Two files, a directory, a symlink and a service triggered by one file."""
    out, port = root / "out", free_port()
    paths = {"motd": out / "motd", "conf": out / "conf", "d": out / "d", "link": out / "link",
             "status": root / "svc" / "web" / "status.json"}
    resources: dict[str, Any] = {
        "motd": {"type": "local:file", "properties": {
            "path": str(paths["motd"]), "content": "hi\n", "make_parents": True}},
        "conf": {"type": "local:file", "properties": {
            "path": str(paths["conf"]), "content": "a=1\n", "make_parents": True}},
        "d": {"type": "local:directory", "properties": {"path": str(paths["d"]),
                                                        "make_parents": True}},
        "link": {"type": "local:symlink", "depends_on": ["motd"],
                 "properties": {"path": str(paths["link"]), "target": "motd"}},
        "web": {"type": "local:service", "depends_on": ["d"], "triggered_by": ["conf"],
                "properties": {
                    "command": [sys.executable, "-m", "http.server", str(port),
                                "--bind", "127.0.0.1"],
                    "cwd": str(paths["d"]), "state_dir": str(root / "svc"), "stop_timeout": 2,
                    "health": {"tcp": {"port": port}, "grace_period": 5, "interval": 0.1}}},
    }
    write_project(root, resources)
    return paths


def _pid(paths: dict[str, Path]) -> int:
    return int(json.loads(paths["status"].read_text())["child_pid"])


def _mtimes(paths: dict[str, Path]) -> dict[str, int]:
    return {k: paths[k].lstat().st_mtime_ns for k in ("motd", "conf", "d", "link")}


@pytest.fixture
def applied(tmp_path: Path) -> Any:
    paths = _project(tmp_path)
    run(tmp_path, "apply", "--auto-approve", check=True)
    yield paths
    run(tmp_path, "destroy", "--auto-approve")  # stop the service whatever the test did
    run(tmp_path, "apply", "--adopt", "--auto-approve")
    run(tmp_path, "destroy", "--auto-approve")


ADDRESSES = ["local:directory/d", "local:file/conf", "local:file/motd", "local:service/web",
             "local:symlink/link"]


def _check_refused_then_adopted(root: Path, paths: dict[str, Path], lost: list[str]) -> None:
    """plan reports ``lost`` as not managed, apply refuses, ``--adopt`` brings them back."""
    mtimes, pid = _mtimes(paths), _pid(paths)
    plan = run(root, "plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for address in lost:
        assert f"? {address}" in plan.stdout and "exists, not managed" in plan.stdout
        assert f"driftless import {address}" in plan.stdout
    assert f"{len(lost)} refused ({len(lost)} not managed)" in plan.stdout
    assert run(root, "plan", "--detailed-exitcode").returncode == 2
    refused = run(root, "apply", "--auto-approve")
    assert refused.returncode == 1 and "nothing was applied" in refused.stderr
    assert _mtimes(paths) == mtimes and _pid(paths) == pid, "a refused apply touches nothing"
    adopted = run(root, "apply", "--adopt", "--auto-approve")
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    assert f"{len(lost)} to adopt" in adopted.stdout
    assert _mtimes(paths) == mtimes and _pid(paths) == pid, "adopting a match changes nothing"
    clean = run(root, "plan", "--detailed-exitcode")
    assert clean.returncode == 0 and "No changes" in clean.stdout, clean.stdout
    listed = run(root, "state", "list", check=True).stdout
    assert all(a in listed for a in ADDRESSES)


def _check_destroy(root: Path, paths: dict[str, Path]) -> None:
    pid = _pid(paths)
    run(root, "destroy", "--auto-approve", check=True)
    assert not any(paths[k].exists() or paths[k].is_symlink() for k in ("motd", "conf", "link"))
    assert not paths["d"].exists()
    assert not _running(pid), "destroy stops the adopted service"


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper is not)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_lost_state_db_is_reported_refused_and_adopted(tmp_path: Path,
                                                       applied: dict[str, Path]) -> None:
    for f in (tmp_path / ".driftless").glob("state.db*"):
        f.unlink()
    _check_refused_then_adopted(tmp_path, applied, ADDRESSES)
    _check_destroy(tmp_path, applied)


def test_state_rm_warns_and_the_object_is_refused_until_adopted(
        tmp_path: Path, applied: dict[str, Path]) -> None:
    rm = run(tmp_path, "state", "rm", "local:file/motd", check=True)
    assert "still exists" in rm.stderr and str(applied["motd"]) in rm.stderr
    assert f"driftless import local:file/motd {applied['motd']}" in rm.stderr
    assert "--adopt" in rm.stderr
    _check_refused_then_adopted(tmp_path, applied, ["local:file/motd"])
    _check_destroy(tmp_path, applied)


def test_adopting_a_differing_file_updates_it_and_fires_its_trigger(
        tmp_path: Path, applied: dict[str, Path]) -> None:
    run(tmp_path, "state", "rm", "local:file/conf", check=True)
    applied["conf"].write_text("a=2\n")
    pid = _pid(applied)
    plan = run(tmp_path, "plan", "--adopt", check=True).stdout
    assert "adopt, then update in place" in plan and "triggered: local:file/conf" in plan
    run(tmp_path, "apply", "--adopt", "--auto-approve", check=True)
    assert applied["conf"].read_text() == "a=1\n" and _pid(applied) != pid
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0
