"""The webhook endpoint under abuse, against a real agent process and real HTTP.

A huge unsigned body is refused while it streams (and the agent's peak RSS
stays low), a captured body under a new delivery id is a replay, a provider
is never checked against another provider's secret, failed signatures are
rate-limited and logged once per client, and a burst of signed deliveries
for one commit costs at most a few fetches.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import select
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from agent_helpers import SECRET, AgentProc, project_files, running_agent

from gitserver import Workdir, git

MB = 1 << 20


@contextmanager
def _agent(tmp_path: Path, *, env: dict[str, str] | None = None,
           ) -> Iterator[tuple[AgentProc, Workdir, Path]]:
    """An agent on a local bare repository (polls hourly), synced to its first commit."""
    bare = tmp_path / "app.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    wd = Workdir.init(tmp_path / "wd")
    wd.write(project_files(tmp_path / "page.txt", "v1")).commit("v1")
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=wd.path)
    with running_agent(tmp_path / "agent", "--source", str(bare), "--interval", "3600",
                       "--drift-interval", "3600", env=env) as agent:
        agent.wait(lambda s: s.get("revision") == wd.head())
        yield agent, wd, bare


def _log(agent: AgentProc) -> str:
    port = agent.url.rsplit(":", 1)[1]
    return (agent.state_dir.parent / f"agent-{port}.log").read_text()


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert match is not None
    return int(match.group(1)) / 1024


def _stream_chunked(url: str, path: str, total: int) -> tuple[int, int]:
    """POST ``total`` bytes chunked, without Content-Length, until the server answers.

    Returns (HTTP status, bytes sent before the answer).
    """
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n".encode())
    chunk, sent, answer = b"x" * (64 * 1024), 0, b""
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        answer = sock.recv(4096)
    except (BrokenPipeError, ConnectionResetError):
        answer = answer or sock.recv(4096)
    finally:
        sock.close()
    return int(answer.split(b" ", 2)[1]), sent


def _declared(url: str, path: str, length: int) -> int:
    """Declare a ``length``-byte body, send none of it, and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        return int(sock.recv(4096).split(b" ", 2)[1])


def _signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_200_mb_unsigned_body_is_refused_while_streaming(tmp_path: Path) -> None:
    with _agent(tmp_path) as (agent, _, _):
        status, sent = _stream_chunked(agent.url, "/hooks/github", 200 * MB)
        assert status == 413
        assert sent < 50 * MB  # refused long before the end
        assert _declared(agent.url, "/hooks/github", 200 * MB) == 413
        assert _peak_rss_mb(agent.proc.pid) < 120
        assert agent.get("/healthz") == {"ok": True}


def test_the_body_limit_is_configurable(tmp_path: Path) -> None:
    env = {"DRIFTLESS_AGENT_WEBHOOK_BODY_LIMIT": "2048"}
    with _agent(tmp_path, env=env) as (agent, _, _):
        body = json.dumps({"ref": "refs/heads/main", "pad": "x" * 4096}).encode()
        resp = httpx.post(agent.url + "/hooks/github", content=body, timeout=10,
                          headers={"X-Hub-Signature-256": _signed(body),
                                   "X-GitHub-Event": "push"})
        assert resp.status_code == 413 and "2048 bytes" in resp.json()["error"]


def _github(agent: AgentProc, body: bytes, delivery: str) -> httpx.Response:
    return httpx.post(agent.url + "/hooks/github", content=body, timeout=10, headers={
        "X-Hub-Signature-256": _signed(body), "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery, "Content-Type": "application/json"})


def test_a_captured_body_resent_with_a_new_delivery_id_is_refused(tmp_path: Path) -> None:
    with _agent(tmp_path) as (agent, wd, bare):
        body = json.dumps({"ref": "refs/heads/main", "after": wd.head(),
                           "repository": {"clone_url": str(bare)}}).encode()
        assert _github(agent, body, "d-1").status_code == 202
        again = _github(agent, body, "d-2")
        assert again.status_code == 200 and again.json()["ignored"] == "replay"


def test_no_cross_provider_fallback(tmp_path: Path) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": "b" * 40}).encode()
    gitlab = {"X-Gitlab-Token": SECRET, "X-Gitlab-Event": "Push Hook",
              "X-Gitlab-Event-UUID": "u-1"}
    generic = {"X-Signature-256": _signed(body), "X-Delivery-Id": "g-1"}
    with _agent(tmp_path) as (agent, _, _):  # only DRIFTLESS_WEBHOOK_SECRET (GitHub) is set
        assert httpx.post(agent.url + "/hooks/gitlab", content=body, headers=gitlab,
                          timeout=10).status_code == 401
        assert httpx.post(agent.url + "/hooks/generic", content=body, headers=generic,
                          timeout=10).status_code == 401
    env = {"DRIFTLESS_GITLAB_TOKEN": SECRET, "DRIFTLESS_GENERIC_WEBHOOK_SECRET": SECRET}
    with _agent(tmp_path / "shared", env=env) as (agent, _, _):  # the operator shares it
        assert httpx.post(agent.url + "/hooks/gitlab", content=body, headers=gitlab,
                          timeout=10).status_code in (200, 202)
        assert httpx.post(agent.url + "/hooks/generic", content=body, headers=generic,
                          timeout=10).status_code in (200, 202)


def test_failed_signatures_are_rate_limited_and_logged_once(tmp_path: Path) -> None:
    with _agent(tmp_path) as (agent, wd, _):
        codes = []
        for i in range(30):
            body = json.dumps({"ref": "refs/heads/main", "n": i}).encode()
            resp = httpx.post(agent.url + "/hooks/github", content=body, timeout=10, headers={
                "X-Hub-Signature-256": _signed(body, "forged"), "X-GitHub-Event": "push",
                "X-GitHub-Delivery": uuid.uuid4().hex})
            codes.append(resp.status_code)
        assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
        # A good delivery from the same address waits for the interval to end too.
        body = json.dumps({"ref": "refs/heads/main", "after": wd.head()}).encode()
        assert _github(agent, body, "ok-1").status_code == 429
        log = _log(agent)
        assert log.count("bad or missing signature") == 1
        assert "forged" not in log and SECRET not in log


def _fetches(agent: AgentProc) -> float:
    text = httpx.get(agent.url + "/metrics", timeout=10,
                     headers={"Authorization": "Bearer admin-token-for-tests"}).text
    found = re.findall(r'^driftless_source_fetches_total\{source="default",trigger="\w+"\} (\S+)$',
                       text, re.M)
    return sum(float(n) for n in found)  # polls and webhooks alike


def test_500_signed_webhooks_for_one_commit_cost_at_most_3_fetches(tmp_path: Path) -> None:
    with _agent(tmp_path) as (agent, wd, bare):
        wd.write(project_files(tmp_path / "page.txt", "v2")).commit("v2")
        git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=wd.path)
        head, before = wd.head(), _fetches(agent)

        def deliver(i: int) -> int:
            body = json.dumps({"ref": "refs/heads/main", "after": head, "n": i,
                               "repository": {"clone_url": str(bare)}}).encode()
            return _github(agent, body, f"burst-{i}").status_code

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(deliver, range(500)))
        assert set(codes) == {202}
        agent.wait(lambda s: s.get("revision") == head and s["sync"] == "Synced")
        assert _fetches(agent) - before <= 3
        assert (tmp_path / "page.txt").read_text() == "v2"
