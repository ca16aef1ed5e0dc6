"""Agent soak: hours of life squeezed into minutes, with a git outage and a webhook burst.

Run from the repo root: ``python bench/bench_soak.py`` (15 minutes) or
``python bench/bench_soak.py --minutes 5`` for a shorter run. It serves a
bare repository over real smart HTTP (tests/gitserver.py, which counts the
requests git makes), starts ``driftless agent`` as a subprocess on it and
drives it:

- a project of 4 stacks x 250 ``local:file`` resources (1,000 in all);
- a push every minute (a few files of one stack change), each announced by
  one signed GitHub-style webhook; the agent also polls every 10 s and
  checks drift every 120 s;
- a git outage (the server stops) starting at 35 % of the run, lasting
  120 s (a quarter of the run when that is shorter);
- at 80 % of the run, a push followed by a burst of 500 signed webhooks
  (distinct deliveries, all naming that one commit) from 16 threads.

It prints, with the goals of issue 17:

- agent RSS growth from the 2nd minute to the last one (median of the
  samples in each; goal < 5 MB);
- the gaps between failed fetches during the outage, from the agent's log
  (goal: they reach >= 30 s);
- how much the agent's log grew during the outage (goal < 5 KB);
- whether the agent reported Ready=False (``/readyz`` 503 and no stack
  Ready) in every sample from its first failed fetch until git was back;
- fetches for the burst: the agent's ``driftless_source_fetches_total``
  and the server's ``info/refs`` requests (goal <= 3 fetches).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import gitserver  # the tests' real git HTTP server

SECRET, ADMIN = "soak-secret", "soak-admin"
STACKS, PER_STACK = 4, 250
OUTAGE_MAX = 120.0


# -- the git server, counting what git asks -------------------------------------------


class Counter:
    """``info/refs`` requests: one per ``git ls-remote`` and one per ``git fetch``."""

    def __init__(self) -> None:
        self.info_refs = 0
        self._lock = threading.Lock()

    def wrap(self, make_app: Callable[..., Any]) -> Callable[..., Any]:
        def make(*args: Any, **kwargs: Any) -> Any:
            app = make_app(*args, **kwargs)

            def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
                if environ.get("PATH_INFO", "").endswith("/info/refs"):
                    with self._lock:
                        self.info_refs += 1
                result: Iterable[bytes] = app(environ, start_response)
                return result
            return counted
        return make


# -- the project ---------------------------------------------------------------------------


def _stack_yaml(out: Path, stack: int, version: dict[int, int]) -> str:
    lines = ["resources:"]
    for i in range(PER_STACK):
        lines += [f"  f{i}:", "    type: local:file", "    properties:",
                  f"      path: {out}/s{stack}/f{i}.txt",
                  f'      content: "stack {stack} file {i} v{version.get(i, 0)}"']
    return "\n".join(lines) + "\n"


@dataclass
class Project:
    """The work tree that pushes, and what each stack's files are at."""

    wd: gitserver.Workdir
    out: Path
    url: str
    versions: list[dict[int, int]] = field(default_factory=lambda: [{} for _ in range(STACKS)])
    pushes: int = 0

    def files(self) -> dict[str, str]:
        stacks = ", ".join(f"stacks/s{s}" for s in range(STACKS))
        docs = {"driftless.yaml": "project: soak\nstate: sqlite:///.driftless/state.db\n"
                                  f"stacks: [{stacks}]\n"}
        for s in range(STACKS):
            docs[f"stacks/s{s}/stack.yaml"] = _stack_yaml(self.out, s, self.versions[s])
        return docs

    def push(self) -> str:
        """Change 5 files of one stack (the next one each time), commit, push."""
        self.pushes += 1
        stack = self.pushes % STACKS
        for i in range(5):
            index = (self.pushes * 5 + i) % PER_STACK
            self.versions[stack][index] = self.versions[stack].get(index, 0) + 1
        self.wd.write(self.files()).commit(f"push {self.pushes}").push()
        return str(self.wd.head())


# -- the agent -------------------------------------------------------------------------------


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {ADMIN}"},
                         timeout=10)

    def stacks(self) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = self.get("/api/v1/stacks").json()["stacks"]
        return docs

    def fetches(self, trigger: str) -> float:
        text = self.get("/metrics").text
        pattern = (r'^driftless_source_fetches_total\{source="default",trigger="'
                   + trigger + r'"\} (\S+)$')
        match = re.search(pattern, text, re.M)
        return float(match.group(1)) if match else 0.0

    def rss_mb(self) -> float:
        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def hook(self, project: Project, rev: str, n: int = 0,
             client: httpx.Client | None = None) -> int:
        body = json.dumps({"ref": "refs/heads/main", "after": rev, "n": n,
                           "repository": {"clone_url": project.url}}).encode()
        sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        post = client.post if client is not None else httpx.post
        return post(self.url + "/hooks/github", content=body, timeout=30, headers={
            "X-Hub-Signature-256": sig, "X-GitHub-Event": "push",
            "X-GitHub-Delivery": uuid.uuid4().hex, "Content-Type": "application/json",
        }).status_code


def _ready(stack: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] for c in stack["conditions"])


def start_agent(root: Path, url: str) -> Agent:
    port = gitserver_free_port()
    log = root / "agent.log"
    env = {**os.environ, "DRIFTLESS_WEBHOOK_SECRET": SECRET, "DRIFTLESS_ADMIN_TOKEN": ADMIN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftless", "agent", "--source", url,
         "--listen", f"127.0.0.1:{port}", "--state-dir", str(root / "state"),
         "--interval", "10", "--drift-interval", "120"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    agent = Agent(proc, f"http://127.0.0.1:{port}", log)
    _until(lambda: _answers(agent), 60, "the agent to answer")
    return agent


def gitserver_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(agent: Agent) -> bool:
    try:
        return agent.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _until(pred: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.time()
    while time.time() - start < timeout:
        if pred():
            return time.time() - start
        time.sleep(0.1)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _synced(agent: Agent, rev: str) -> bool:
    try:
        docs = agent.stacks()
    except httpx.HTTPError:
        return False
    return len(docs) == STACKS and all(
        d["revision"] == rev and d["sync"] == "Synced" and _ready(d) for d in docs)


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Findings:
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    outage: tuple[float, float] = (0.0, 0.0)  # wall-clock start, end
    log_before: int = 0
    log_after: int = 0
    ready_samples: list[tuple[float, bool, int]] = field(default_factory=list)
    burst_fetches: float = 0.0
    burst_polls: float = 0.0
    burst_info_refs: int = 0
    burst_codes: dict[int, int] = field(default_factory=dict)
    burst_seconds: float = 0.0
    pushes: int = 0
    push_to_synced: list[float] = field(default_factory=list)


class Soak:
    def __init__(self, root: Path, minutes: float) -> None:
        self.root, self.total = root, minutes * 60.0
        self.outage_at = 0.35 * self.total
        self.outage_len = min(OUTAGE_MAX, 0.25 * self.total)
        self.burst_at = 0.80 * self.total
        self.counter = Counter()
        gitserver._make_app = self.counter.wrap(gitserver._make_app)
        gitserver.init_bare(root / "srv", "app.git")
        self.server = gitserver.GitHttpServer(root / "srv").start()
        url = f"{self.server.url}/app.git"
        wd = gitserver.Workdir.clone(url, root / "wd")
        self.project = Project(wd, root / "out", url)
        for s in range(STACKS):
            (root / "out" / f"s{s}").mkdir(parents=True)
        wd.write(self.project.files()).commit("first").push()
        self.found = Findings()

    def run(self) -> Findings:
        agent = start_agent(self.root, self.project.url)
        try:
            print(f"initial sync of {STACKS * PER_STACK} resources: "
                  f"{_until(lambda: _synced(agent, self.project.wd.head()), 300, 'sync'):.1f} s",
                  flush=True)
            self.t0 = time.time()
            self._loop(agent)
        finally:
            agent.proc.send_signal(signal.SIGTERM)
            agent.proc.wait(timeout=60)
            self.server.stop()
        return self.found

    def _loop(self, agent: Agent) -> None:
        next_push, next_rss, outage_done, burst_done = 30.0, 0.0, False, False
        while (now := time.time() - self.t0) < self.total:
            if now >= next_rss:
                self.found.rss.append((now, agent.rss_mb()))
                next_rss += 10.0
            if not outage_done and now >= self.outage_at:
                self._outage(agent)
                outage_done = True
                next_push = max(next_push, time.time() - self.t0 + 5.0)
            elif not burst_done and now >= self.burst_at:
                self._burst(agent)
                burst_done = True
                next_push = time.time() - self.t0 + 60.0
            elif now >= next_push:
                self._push(agent)
                next_push += 60.0
            time.sleep(0.5)

    def _push(self, agent: Agent) -> None:
        rev = self.project.push()
        pushed = time.time()
        agent.hook(self.project, rev)
        self.found.pushes += 1
        try:
            _until(lambda: _synced(agent, rev), 50, "a push to sync")
            self.found.push_to_synced.append(time.time() - pushed)
        except TimeoutError:
            print(f"push {self.project.pushes} did not sync within 50 s", flush=True)
        print(f"[{time.time() - self.t0:6.0f} s] push {self.project.pushes}, "
              f"RSS {agent.rss_mb():.1f} MB", flush=True)

    def _outage(self, agent: Agent) -> None:
        print(f"[{time.time() - self.t0:6.0f} s] git outage for {self.outage_len:.0f} s",
              flush=True)
        self.found.log_before = agent.log.stat().st_size
        start = time.time()
        self.server.stop()
        while time.time() - start < self.outage_len:
            ready = agent.get("/readyz").status_code == 200
            stacks_ready = sum(1 for d in agent.stacks() if _ready(d))
            self.found.ready_samples.append((time.time(), ready, stacks_ready))
            if time.time() - self.t0 >= len(self.found.rss) * 10.0:
                self.found.rss.append((time.time() - self.t0, agent.rss_mb()))
            time.sleep(1.0)
        self.found.log_after = agent.log.stat().st_size
        self.server.start()
        self.found.outage = (start, time.time())
        _until(lambda: agent.get("/readyz").status_code == 200, 400, "Ready after the outage")
        print(f"[{time.time() - self.t0:6.0f} s] git back; Ready again", flush=True)

    def _burst(self, agent: Agent) -> None:
        rev = self.project.push()
        before, polls = agent.fetches("webhook"), agent.fetches("poll")
        refs_before = self.counter.info_refs
        start = time.time()
        limits = httpx.Limits(max_connections=16)
        with httpx.Client(limits=limits) as client, ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda n: agent.hook(self.project, rev, n, client),
                                  range(500)))
        self.found.burst_seconds = time.time() - start
        _until(lambda: _synced(agent, rev), 120, "the burst's commit to sync")
        time.sleep(2.0)  # anything still queued would fetch now
        self.found.burst_fetches = agent.fetches("webhook") - before
        self.found.burst_polls = agent.fetches("poll") - polls
        self.found.burst_info_refs = self.counter.info_refs - refs_before
        self.found.burst_codes = {c: codes.count(c) for c in set(codes)}
        print(f"[{time.time() - self.t0:6.0f} s] burst of 500 webhooks in "
              f"{self.found.burst_seconds:.1f} s", flush=True)


# -- the report ----------------------------------------------------------------------------------


def _failed_fetch_times(log: Path) -> list[float]:
    stamps = []
    for line in log.read_text(errors="replace").splitlines():
        if "source default unavailable" in line:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            stamps.append(stamp.timestamp())
    return stamps


def report(found: Findings, log: Path, minutes: float) -> None:
    second = [mb for t, mb in found.rss if 60 <= t < 120]
    last = [mb for t, mb in found.rss if t >= (minutes - 1) * 60]
    growth = statistics.median(last) - statistics.median(second)
    print(f"\nagent RSS: 2nd minute {statistics.median(second):.1f} MB, last minute "
          f"{statistics.median(last):.1f} MB: growth {growth:+.2f} MB (goal < 5 MB)")
    fails = _failed_fetch_times(log)
    gaps = [b - a for a, b in itertools.pairwise(fails)]
    print(f"failed fetches during the outage: {len(fails)}; gaps "
          f"{', '.join(f'{g:.1f}' for g in gaps)} s; longest {max(gaps, default=0):.1f} s "
          "(goal: reach >= 30 s)")
    grown = found.log_after - found.log_before
    print(f"agent log growth during the {found.outage[1] - found.outage[0]:.0f} s outage: "
          f"{grown} bytes (goal < 5 KB)")
    detected = fails[0] if fails else found.outage[1]
    after = [(ready, n) for t, ready, n in found.ready_samples if t >= detected + 0.5]
    bad = [s for s in after if s[0] or s[1]]
    print(f"first failed fetch {detected - found.outage[0]:.1f} s into the outage; Ready False "
          f"in {len(after) - len(bad)} of {len(after)} samples from then until git was back "
          f"(/readyz 503 and no stack Ready; goal: all)")
    print(f"burst of 500 signed webhooks for one commit, sent in {found.burst_seconds:.1f} s: "
          f"{found.burst_fetches:.0f} fetches asked by webhooks (+{found.burst_polls:.0f} by the "
          f"10 s poll meanwhile), {found.burst_info_refs} info/refs requests at the server "
          f"(ls-remote + fetch, polls included); answers {found.burst_codes} "
          "(goal <= 3 fetches)")
    if found.push_to_synced:
        print(f"pushes: {found.pushes}; push to all 4 stacks Synced: median "
              f"{statistics.median(found.push_to_synced):.2f} s, max "
              f"{max(found.push_to_synced):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="length of the run")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    args = parser.parse_args()
    if args.minutes < 3:
        parser.error("--minutes must be at least 3 (the outage needs room)")
    tmp = tempfile.mkdtemp(prefix="driftless-soak-")
    root = Path(tmp)
    found = Soak(root, args.minutes).run()
    report(found, root / "agent.log", args.minutes)
    if args.keep:
        print(f"logs kept in {root}")
    else:
        subprocess.run(["rm", "-rf", tmp], check=False)


if __name__ == "__main__":
    main()
