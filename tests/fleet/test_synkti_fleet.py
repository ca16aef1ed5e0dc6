"""examples/synkti/fleet on three real agents in fleet mode (etcd): the worker stack
selects the two nodes tagged SynktiRole=worker and writes their peer list; the
bastion is not selected and gets nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from driftless.fleet.etcd import EtcdCoordinator
from servers import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "synkti" / "fleet"
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
NODES = {"gpu-a": "SynktiRole=worker", "gpu-b": "SynktiRole=worker",
         "bastion": "SynktiRole=bastion"}


def _peers(out: Path) -> list[str] | None:
    path = out / "peers.json"
    return sorted(p["name"] for p in json.loads(path.read_text())) if path.exists() else None


def test_worker_stack_selects_workers_and_writes_their_peer_list(etcd_url: str,
                                                                 tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*GIT, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(repo), "commit", "-qm", "fleet"], check=True)
    prefix = f"/synkti-{uuid.uuid4().hex[:8]}"
    procs = []
    port = free_port()
    for name, tags in NODES.items():
        env = {**os.environ, "DRIFTLESS_FLEET": f"etcd://{etcd_url[7:]}{prefix}",
               "DRIFTLESS_NODE_NAME": name, "DRIFTLESS_NODE_TAGS": f"SynktiCluster=synkti,{tags}",
               "DRIFTLESS_NODE_ADDRESS": f"{name}.lan", "DRIFTLESS_FLEET_TTL": "3",
               "DRIFTLESS_FLEET_PEERS": "{members: {SynktiRole: worker}}",
               "DRIFTLESS_FLEET_MAX_UNAVAILABLE": "1", "DRIFTLESS_FLEET_POLL": "0.5",
               "DRIFTLESS_VAR_base_dir": str(tmp_path / "out" / name)}
        log = (tmp_path / f"{name}.log").open("wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "driftless", "agent", "--source", str(repo),
             "--interval", "0.5", "--drift-interval", "1",
             "--listen", f"127.0.0.1:{port if name == 'gpu-a' else 0}",
             "--state-dir", str(tmp_path / "agents" / name)], env=env, stdout=log,
            stderr=subprocess.STDOUT))
    try:
        deadline = time.monotonic() + 90
        want = ["gpu-a", "gpu-b"]
        while time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), f"an agent exited; see {tmp_path}"
            if all(_peers(tmp_path / "out" / n) == want for n in want):
                break
            time.sleep(0.3)
        assert [_peers(tmp_path / "out" / n) for n in want] == [want, want]
        env_file = (tmp_path / "out" / "gpu-a" / "node.env").read_text()
        assert env_file == "SYNKTI_NODE=gpu-a\nSYNKTI_ADDRESS=gpu-a.lan\n"
        rows = json.loads((tmp_path / "out" / "gpu-b" / "peers.json").read_text())
        assert [(r["name"], r["address"], r["self"]) for r in rows] == [
            ("gpu-a", "gpu-a.lan", False), ("gpu-b", "gpu-b.lan", True)]
        assert not (tmp_path / "out" / "bastion").exists(), "the bastion was selected"
        api = httpx.get(f"http://127.0.0.1:{port}/api/v1/fleet", timeout=10).json()
        assert api["node"]["name"] == "gpu-a" and api["node"]["tags"]["SynktiRole"] == "worker"
        assert [p["name"] for p in api["peers"]] == want
        coord = EtcdCoordinator(etcd_url, prefix=prefix)
        assert {m.node for m in coord.members()} == set(NODES)
        coord.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
