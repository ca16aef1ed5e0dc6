"""local:container against real podman: the conformance walk, the CLI life cycle
(no-op, env change -> exactly one restart, `podman stop`/`podman rm` drift ->
restored, destroy), secrets kept out of output and labels, and kill -9 of an
apply mid-create -> recovery adopts the container, no duplicate."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podman_helpers import Images, podman

from cli_helpers import popen, run, write_project
from driftless.model import Action, HealthCode, Resource, ResourceId
from driftless.providers.local import LocalProvider
from driftless.providers.testing import ConformanceCase, check_provider

SECRET = "canary-container-3xT9qLw"


def _res(resource_name: str, **props: Any) -> Resource:
    return Resource(ResourceId("local", "container", resource_name), props)


def _starts(name: str) -> int:
    out = podman("events", "--stream=false", "--filter", f"container={name}",
                 "--filter", "event=start", "--format", "{{.ID}}").stdout
    return len(out.split())


def _ours(label: str) -> list[dict[str, Any]]:
    out = podman("ps", "--all", "--filter", f"label=driftless.resource={label}",
                 "--format", "json").stdout
    found: list[dict[str, Any]] = json.loads(out or "[]")
    return found


def test_conformance(images: Images) -> None:
    base = {"image": images.by_digest, "tls_verify": False, "health_cmd": ["/bin/true"],
            "name": "driftless-conf", "stop_timeout": 1}
    check_provider(LocalProvider(), [ConformanceCase(
        _res("conf", **base, env={"MODE": "a"}), _res("conf", **base, env={"MODE": "b"}),
        import_id="driftless-conf",
        cleanup=lambda: podman("rm", "-f", "-t", "0", "driftless-conf", check=False) and None)])


def _container(images: Images, env: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"web": {"type": "local:container", "properties": {
        "image": images.by_digest, "tls_verify": False, "name": "driftless-web",
        "command": ["/bin/sh", "-c", "touch /tmp/ready && exec sleep 3600"],
        "env": env, "user": "app", "restart": "always", "stop_timeout": 1,
        "health_cmd": ["/bin/test", "-f", "/tmp/ready"], **extra}}}


def test_cli_life_cycle(tmp_path: Path, images: Images, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLESS_VAR_token", SECRET)
    secret_var = {"token": {"type": "string", "sensitive": True}}
    root = write_project(tmp_path / "p", _container(images, {"MODE": "a",
                                                              "TOKEN": "${var.token}"}),
                         variables=secret_var)
    first = run(root, "apply", "--auto-approve", check=True)
    assert "local:container/web" in first.stdout and SECRET not in first.stdout + first.stderr
    doc = json.loads(podman("container", "inspect", "--format", "json",
                            "driftless-web").stdout)[0]
    assert SECRET not in json.dumps(doc["Config"]["Labels"])  # the spec label keeps digests
    assert f"TOKEN={SECRET}" in doc["Config"]["Env"]  # ... while the process gets the value
    assert doc["Config"]["User"] == "app"
    assert "No changes" in run(root, "plan", check=True).stdout
    starts = _starts("driftless-web")

    write_project(root, _container(images, {"MODE": "b", "TOKEN": "${var.token}"}),
                  variables=secret_var)
    plan = run(root, "plan", check=True).stdout
    assert "env.MODE" in plan and "recreates the container" in plan
    run(root, "apply", "--auto-approve", check=True)
    assert _starts("driftless-web") == starts + 1  # exactly one restart
    assert len(_ours("local:container/web")) == 1

    podman("stop", "-t", "0", "driftless-web")
    drift = run(root, "plan", check=True).stdout
    assert 'state: "exited" → "running"' in drift, drift
    run(root, "apply", "--auto-approve", check=True)
    assert _state("driftless-web") == "running"

    podman("rm", "-f", "-t", "0", "driftless-web")
    restored = run(root, "apply", "--auto-approve", check=True).stdout
    assert "+ local:container/web" in restored and _state("driftless-web") == "running"
    assert "No changes" in run(root, "plan", check=True).stdout

    run(root, "destroy", "--auto-approve", check=True)
    assert _ours("local:container/web") == []


def _state(name: str) -> str:
    doc = json.loads(podman("container", "inspect", "--format", "json", name).stdout)[0]
    return str(doc["State"]["Status"])


def test_kill_9_mid_create_is_adopted_without_duplicate(tmp_path: Path,
                                                         images: Images) -> None:
    marker = tmp_path / "healthy"
    props = _container(images, {"MODE": "a"})
    props["web"]["properties"]["name"] = "driftless-crash"
    # the apply waits in create for a host-side health check until the marker exists
    props["web"]["properties"]["health"] = {"command": ["test", "-f", str(marker)],
                                            "grace_period": 60, "interval": 0.2}
    root = write_project(tmp_path / "p", props)
    proc = popen(root, "apply", "--auto-approve")
    deadline = time.monotonic() + 60
    while not any(c.get("State") == "running" for c in _ours("local:container/web")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the container never started"
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    marker.touch()
    again = run(root, "apply", "--auto-approve", check=True)
    assert "local:container/web: adopted after an interrupted create" in again.stdout
    found = _ours("local:container/web")
    assert len(found) == 1 and found[0]["State"] == "running"
    assert "No changes" in run(root, "plan", check=True).stdout
    run(root, "destroy", "--auto-approve", check=True)
    assert _ours("local:container/web") == []


def test_update_of_a_stopped_container_only_starts_it(images: Images) -> None:
    provider = LocalProvider()
    res = _res("stopped", image=images.by_digest, tls_verify=False, name="driftless-stopped",
               stop_timeout=1, health_cmd="test -d /tmp")
    live = provider.apply(provider.diff(res, None))
    assert live is not None
    try:
        assert provider.health(live).code is HealthCode.HEALTHY
        podman("stop", "-t", "0", "driftless-stopped")
        assert provider.health(live).code is HealthCode.DEGRADED
        change = provider.diff(res, provider.read(res, live))
        assert change.action is Action.UPDATE and [d.path for d in change.diffs] == ["state"]
        after = provider.apply(change)
        assert after is not None
        assert after.attributes["container_id"] == live.attributes["container_id"]
        assert after.attributes["state"] == "running"
    finally:
        podman("rm", "-f", "-t", "0", "driftless-stopped", check=False)


def test_new_image_behind_the_tag_recreates_once(tmp_path: Path, images: Images) -> None:
    """A tag that now names another image (here: retagged locally) plans as an image_id
    change and recreates the container; env_file and volumes reach it."""
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    env_file = tmp_path / "extra.env"
    env_file.write_text("FROM_FILE=yes\n")
    provider = LocalProvider()
    res = _res("tagged", image=images.ref, tls_verify=False, name="driftless-tagged",
               stop_timeout=1, env_file=str(env_file), volumes=[f"{data}:/data"], user="app",
               command=["/bin/sh", "-c", "touch /data/ran && exec sleep 3600"])
    live = provider.apply(provider.diff(res, None))
    assert live is not None
    try:
        doc = json.loads(podman("container", "inspect", "--format", "json",
                                "driftless-tagged").stdout)[0]
        assert "FROM_FILE=yes" in doc["Config"]["Env"]
        deadline = time.monotonic() + 10
        while not (data / "ran").exists():
            assert time.monotonic() < deadline, "the volume was not written"
            time.sleep(0.1)
        podman("tag", images.by_digest, images.ref)  # same content: same id, no change
        assert provider.diff(res, provider.read(res, live)).action is Action.NOOP
        other = podman("commit", "--quiet", "driftless-tagged", images.ref).stdout.strip()
        change = provider.diff(res, provider.read(res, live))
        assert change.action is Action.UPDATE
        assert [d.path for d in change.diffs] == ["image_id"]
        starts = _starts("driftless-tagged")
        after = provider.apply(change)
        assert after is not None and after.attributes["image_id"].startswith(other[:12])
        assert _starts("driftless-tagged") == starts + 1
        assert provider.diff(res, provider.read(res, after)).action is Action.NOOP
    finally:
        podman("rm", "-f", "-t", "0", "driftless-tagged", check=False)
