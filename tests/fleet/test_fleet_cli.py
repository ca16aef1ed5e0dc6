"""``driftless fleet status|resume|peers`` as a user runs them, against a real etcd."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from driftless.fleet.base import Halt, Member, Report, RolloutRecord
from driftless.fleet.etcd import EtcdCoordinator


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "driftless", "fleet", *args],
                          capture_output=True, text=True, timeout=60)


def test_status_counts_slots_holders_and_resume_clears_the_halt(etcd_url: str) -> None:
    prefix = f"/cli-{uuid.uuid4().hex[:8]}"
    store = f"etcd://{etcd_url.removeprefix('http://')}{prefix}"
    coord = EtcdCoordinator(etcd_url, prefix=prefix)
    leases = {n: coord.grant(n, ttl=30) for n in ("a", "b", "c", "d")}
    for name, lease in leases.items():
        coord.join(lease, Member(name, {"role": "worker"}, address=f"{name}.lan"))
    coord.open_rollout(RolloutRecord("web.abc", slots=2, canary=("a",), failure_threshold=1))
    slot = coord.acquire("web.abc", leases["b"])
    assert slot is not None
    coord.report("web.abc", Report("a", "healthy"))
    coord.report("web.abc", Report("b", "applying", token=slot.token), slot=slot)
    coord.report("web.abc", Report("c", "failed", "health timed out"))
    coord.halt(Halt("web.abc", "1 nodes failed (threshold 1): c", by="c"))

    out = _cli("status", "--store", store, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (rollout,) = doc["rollouts"]
    assert rollout["in_use"] == 1 and rollout["holders"][0]["node"] == "b"
    assert rollout["counts"] == {"pending": 0, "in_progress": 1, "healthy": 1, "failed": 1,
                                 "halted": 1, "lost": 0}
    assert rollout["halted"]["by"] == "c"
    text = _cli("status", "--store", store)
    assert "slots 1/2 held by b#0" in text.stdout and "HALTED by c" in text.stdout

    resumed = _cli("resume", "web.abc", "--store", store)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    assert coord.halted("web.abc") is None and "c" not in coord.reports("web.abc")

    peers = json.loads(_cli("peers", "--store", store, "--select", "role=worker",
                            "--json").stdout)
    assert [p["name"] for p in peers] == ["a", "b", "c", "d"]
    missing = _cli("status")
    assert missing.returncode != 0 and "DRIFTLESS_FLEET" in missing.stderr + missing.stdout
