"""Helpers for the agent's end-to-end tests: a tiny project, an agent subprocess.

I/O: writes project files into a git work dir, starts ``python -m driftless
agent`` as a subprocess on a free loopback port, polls its HTTP API.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from servers import free_port

SECRET = "hook-secret-for-tests"
ADMIN = "admin-token-for-tests"




def project_files(out: Path, content: str, *, stack_extra: str = "",
                  extra_resources: str = "") -> dict[str, str]:
    """A one-stack project managing one file at an absolute path."""
    return {
        "driftless.yaml": "project: t\nstate: sqlite:///.driftless/state.db\n"
                          "stacks: [stacks/web]\n",
        "stacks/web/stack.yaml": (
            f"{stack_extra}resources:\n  page:\n    type: local:file\n"
            f"    properties:\n      path: {out}\n      content: \"{content}\"\n"
            f"{extra_resources}"),
    }


class AgentProc:
    """A running agent subprocess and its API."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, state_dir: Path) -> None:
        self.proc, self.url, self.state_dir = proc, url, state_dir

    def get(self, path: str) -> Any:
        resp = httpx.get(self.url + path, headers={"Authorization": f"Bearer {ADMIN}"},
                         timeout=5)
        resp.raise_for_status()
        return resp.json()

    def stack(self, name: str = "web") -> dict[str, Any]:
        docs = self.get("/api/v1/stacks")["stacks"]
        return next((d for d in docs if d["stack"] == name), {})

    def hook(self, body: Mapping[str, Any], *, secret: str = SECRET,
             delivery: str | None = None) -> httpx.Response:
        raw = json.dumps(body).encode()
        sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"X-Hub-Signature-256": sig, "X-GitHub-Event": "push",
                   "X-GitHub-Delivery": delivery or uuid.uuid4().hex,
                   "Content-Type": "application/json"}
        return httpx.post(self.url + "/hooks/github", content=raw, headers=headers, timeout=5)

    def wait(self, pred: Callable[[dict[str, Any]], bool], *, timeout: float = 20.0,
             name: str = "web") -> dict[str, Any]:
        deadline = time.time() + timeout
        last: dict[str, Any] = {}
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}")
            last = self.stack(name)
            if last and pred(last):
                return last
            time.sleep(0.05)
        raise AssertionError(f"condition not reached; last status: {last}")


def push_body(base_url: str, ref: str = "refs/heads/main", after: str = "") -> dict[str, Any]:
    return {"ref": ref, "after": after or uuid.uuid4().hex + "abcdef01",
            "repository": {"clone_url": f"{base_url}/app.git"}}


def wait_until(pred: Callable[[], bool], *, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@contextmanager
def running_agent(state_dir: Path, *args: str, env: Mapping[str, str] | None = None,
                  ) -> Iterator[AgentProc]:
    """``driftless agent ARGS`` with a free port; stopped with SIGTERM at exit."""
    port = free_port()
    full_env = {**os.environ, "DRIFTLESS_WEBHOOK_SECRET": SECRET,
                "DRIFTLESS_ADMIN_TOKEN": ADMIN, **(env or {})}
    log = (state_dir.parent / f"agent-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftless", "agent", "--listen", f"127.0.0.1:{port}",
         "--state-dir", str(state_dir), *args],
        env=full_env, stdout=log, stderr=subprocess.STDOUT)
    agent = AgentProc(proc, f"http://127.0.0.1:{port}", state_dir)
    try:
        wait_until(lambda: _answers(agent), timeout=20)
        yield agent
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _answers(agent: AgentProc) -> bool:
    if agent.proc.poll() is not None:
        raise AssertionError(f"agent exited early with {agent.proc.returncode}")
    try:
        return httpx.get(agent.url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
