"""Agent benchmarks: push-to-Ready latency (webhook, polling), idle RSS/CPU, no-op reconcile.

Run from the repo root: ``python bench/bench_agent.py`` (or ``python -m
bench.bench_agent``). It builds throwaway git repositories under a temp dir,
starts ``driftless agent`` as a subprocess on free loopback ports and prints:

- median push-to-Ready latency through a GitHub-style webhook (goal <= 1 s);
- median push-to-Ready latency of the quickstart stack (examples/quickstart:
  a template, an env file and a supervised web server that restarts on
  every change and must pass its HTTP health check), through a webhook
  (goal <= 1 s): from the push until the agent reports the new revision
  Synced, Ready and Healthy *and* the restarted server serves the new page;
- median push-to-Ready latency by polling (goal <= interval + 1 s);
- idle RSS of an agent with 3 stacks x 333 local:file resources (goal < 120 MB)
  and its idle CPU over a few seconds (goal < 2 %);
- the duration of a no-change reconcile of those ~1,000 resources (goal < 1 s).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

SECRET, ADMIN = "bench-secret", "bench-admin"
# One client for every request the bench makes: httpx.get() builds a client and a
# verifying SSL context per call (~70 ms of CPU), which the bench would otherwise
# spend next to the agent it measures, every 50 ms while it waits.
HTTP = httpx.Client(verify=False)


def _git(*args: str, cwd: Path) -> str:
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@driftless.invalid"]
    return subprocess.run(["git", *ident, *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stack(out: Path, n: int, content: str) -> str:
    lines = ["resources:"]
    for i in range(n):
        lines += [f"  f{i}:", "    type: local:file", "    properties:",
                  f"      path: {out}/f{i}.txt", f'      content: "{content} {i}"']
    return "\n".join(lines) + "\n"


def make_repo(root: Path, stacks: int, per_stack: int) -> tuple[Path, Path]:
    """A bare repo and a work dir holding a project of ``stacks`` x ``per_stack`` files."""
    bare, wd = root / "app.git", root / "wd"
    _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=root)
    _git("init", "-q", "-b", "main", str(wd), cwd=root)
    names = [f"s{i}" for i in range(stacks)]
    (wd / "driftless.yaml").write_text(
        "project: bench\nstate: sqlite:///.driftless/state.db\nstacks: ["
        + ", ".join(f"stacks/{n}" for n in names) + "]\n")
    for name in names:
        (wd / "stacks" / name).mkdir(parents=True)
        (wd / "stacks" / name / "stack.yaml").write_text(
            _stack(root / "out" / name, per_stack, "v0"))
        (root / "out" / name).mkdir(parents=True)
    commit(wd, bare, "v0")
    return bare, wd


def commit(wd: Path, bare: Path, message: str) -> str:
    _git("add", "-A", cwd=wd)
    _git("commit", "-q", "-m", message, cwd=wd)
    _git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=wd)
    return _git("rev-parse", "HEAD", cwd=wd)


@contextmanager
def agent(bare: Path, state: Path, *, interval: float,
          env_extra: dict[str, str] | None = None) -> Iterator[tuple[str, psutil.Process]]:
    port = _port()
    env = {**os.environ, "DRIFTLESS_WEBHOOK_SECRET": SECRET, "DRIFTLESS_ADMIN_TOKEN": ADMIN,
           **(env_extra or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftless", "agent", "--source", str(bare),
         "--listen", f"127.0.0.1:{port}", "--state-dir", str(state),
         "--interval", str(interval), "--drift-interval", "3600"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _get(url, "/healthz") is not None, 30)
        yield url, psutil.Process(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _get(url: str, path: str) -> Any:
    try:
        r = HTTP.get(url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=2)
        return r.json() if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


def _until(pred: Callable[[], bool], timeout: float, *, step: float = 0.01) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(step)
    raise TimeoutError("condition not reached")


def _synced(url: str, rev: str, stacks: int) -> bool:
    doc = _get(url, "/api/v1/stacks") or {"stacks": []}
    done = [s for s in doc["stacks"] if s["revision"] == rev and s["sync"] == "Synced"]
    return len(done) == stacks


def _hook(url: str, bare: Path, rev: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": rev,
                       "repository": {"clone_url": str(bare)}}).encode()
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    HTTP.post(url + "/hooks/github", content=body, timeout=5, headers={
        "X-Hub-Signature-256": sig, "X-GitHub-Event": "push",
        "X-GitHub-Delivery": uuid.uuid4().hex, "Content-Type": "application/json"})


def latency(root: Path, *, webhook: bool, rounds: int = 5) -> list[float]:
    """Seconds from push to all stacks Synced on the new revision, per round."""
    bare, wd = make_repo(root, 1, 1)
    interval = 3600.0 if webhook else 1.0
    times = []
    with agent(bare, root / "state", interval=interval) as (url, _):
        _until(lambda: _synced(url, _git("rev-parse", "HEAD", cwd=wd), 1), 60)
        for i in range(rounds):
            (wd / "stacks" / "s0" / "stack.yaml").write_text(
                _stack(root / "out" / "s0", 1, f"round {i}"))
            start = time.perf_counter()
            rev = commit(wd, bare, f"round {i}")
            if webhook:
                _hook(url, bare, rev)
            _until(lambda rev=rev: _synced(url, rev, 1), 30)  # type: ignore[misc]
            times.append(time.perf_counter() - start)
    return times


QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def _ready(url: str, rev: str) -> bool:
    doc = _get(url, "/api/v1/stacks") or {"stacks": []}
    return any(s["revision"] == rev and s["sync"] == "Synced" and s["health"] == "Healthy"
               and any(c["type"] == "Ready" and c["status"] for c in s["conditions"])
               for s in doc["stacks"])


def _serves(page: str, text: str) -> bool:
    try:
        return text in HTTP.get(page, timeout=1).text
    except httpx.HTTPError:
        return False


def quickstart_latency(root: Path, *, rounds: int = 9) -> list[float]:
    """Push-to-Ready of examples/quickstart (service restart + health check), by webhook.

    The clock starts when ``git push`` has returned (the commit is on the
    server) and stops when the API reports the revision Synced, Ready and
    Healthy and the restarted server answers with the new page; the API is
    polled every 50 ms so the poll itself does not load the agent.
    """
    bare, wd = root / "app.git", root / "wd"
    _git("init", "-q", "--bare", "-b", "main", str(bare), cwd=root)
    shutil.copytree(QUICKSTART, wd)
    _git("init", "-q", "-b", "main", str(wd), cwd=root)
    stack = wd / "stacks" / "web" / "stack.yaml"
    original = stack.read_text()
    commit(wd, bare, "quickstart")
    port = _port()
    page = f"http://127.0.0.1:{port}/"
    env = {"DRIFTLESS_VAR_base_dir": str(root / "run"), "DRIFTLESS_VAR_port": str(port)}
    times: list[float] = []
    runs: list[float] = []
    cpu: list[float] = []
    with agent(bare, root / "state", interval=3600, env_extra=env) as (url, proc):
        _until(lambda: _ready(url, _git("rev-parse", "HEAD", cwd=wd)), 60)
        for i in range(rounds):
            greeting = f"Hello from driftless, round {i}"
            stack.write_text(original.replace("default: Hello from driftless",
                                              f"default: {greeting}"))
            rev = commit(wd, bare, f"round {i}")
            cpu0 = _cpu(proc)
            start = time.perf_counter()  # the push has landed: what follows is the agent's
            _hook(url, bare, rev)
            _until(lambda rev=rev, g=greeting: _ready(url, rev) and _serves(page, g), 30,  # type: ignore[misc]
                   step=0.05)
            times.append(time.perf_counter() - start)
            cpu.append(_cpu(proc) - cpu0)
            entry = (_get(url, "/api/v1/stacks/web/history?limit=1") or {"history": [{}]})
            runs.append(float(entry["history"][0].get("duration", 0.0)))
        _cleanup_quickstart(url, wd, bare, stack)
    print(f"  (the agent's own reconcile of each round: {', '.join(f'{t:.2f}' for t in runs)} s;"
          f" CPU of the agent and its git children per round: median "
          f"{statistics.median(cpu):.2f} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs)")
    return times


def _cpu(proc: psutil.Process) -> float:
    """User + system CPU seconds of the agent and its reaped children (git)."""
    t = proc.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def _cleanup_quickstart(url: str, wd: Path, bare: Path, stack: Path) -> None:
    """Stop the web server: a revision without the service prunes it."""
    stack.write_text("resources: {}\n")
    rev = commit(wd, bare, "remove the service")
    _hook(url, bare, rev)
    _until(lambda: (_get(url, "/api/v1/stacks") or {"stacks": [{}]})["stacks"][0]
           .get("revision") == rev, 30)


def idle_and_noop(root: Path) -> dict[str, float]:
    """Idle RSS/CPU with 3 x 333 resources and the no-op reconcile duration."""
    bare, wd = make_repo(root, 3, 333)
    rev = _git("rev-parse", "HEAD", cwd=wd)
    with agent(bare, root / "state", interval=3600) as (url, proc):
        _until(lambda: _synced(url, rev, 3), 180)
        time.sleep(2.0)
        rss = proc.memory_info().rss / 2**20
        cpu0, t0 = sum(proc.cpu_times()[:2]), time.time()
        time.sleep(5.0)
        cpu = (sum(proc.cpu_times()[:2]) - cpu0) / (time.time() - t0) * 100
        total = 0.0
        for name in ("s0", "s1", "s2"):
            HTTP.post(f"{url}/api/v1/stacks/{name}/reconcile", timeout=5,
                       headers={"Authorization": f"Bearer {ADMIN}"})
            _until(lambda n=name: (_get(url, f"/api/v1/stacks/{n}/history?limit=1")  # type: ignore[misc]
                                   or {"history": [{}]})["history"][0].get("trigger") == "manual",
                   60)
            total += _get(url, f"/api/v1/stacks/{name}/history?limit=1")["history"][0]["duration"]
    return {"rss_mb": rss, "idle_cpu_pct": cpu, "noop_reconcile_s": total}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for sub in ("hook", "poll", "idle", "quickstart"):
            (root / sub).mkdir()
        quick = quickstart_latency(root / "quickstart")
        print(f"push-to-Ready, quickstart stack (service restart + health check) via webhook: "
              f"median {statistics.median(quick):.3f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in quick)}; goal <= 1 s)")
        if "--quickstart-only" in sys.argv:
            return
        hook = latency(root / "hook", webhook=True)
        print(f"push-to-Ready via webhook: median {statistics.median(hook):.3f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in hook)}; goal <= 1 s)")
        poll = latency(root / "poll", webhook=False)
        print(f"push-to-Ready via polling (interval 1 s): median {statistics.median(poll):.3f} s "
              f"(goal <= 2 s)")
        idle = idle_and_noop(root / "idle")
        print(f"idle agent, 3 stacks x 333 resources: RSS {idle['rss_mb']:.1f} MB (goal < 120),"
              f" CPU {idle['idle_cpu_pct']:.2f} % (goal < 2)")
        print(f"no-change reconcile of 999 resources: {idle['noop_reconcile_s']:.3f} s "
              f"(goal < 1 s)")


if __name__ == "__main__":
    main()
