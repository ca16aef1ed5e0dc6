"""The agent refuses a revision that adds a plaintext secret (refuse_plaintext_secrets).

A real git repository, the agent's own runtime and steps (``run_once``), in
process: the render step scans the files changed since the last applied
revision and stalls the stack without applying anything.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from driftless.agent import load_agent_config
from driftless.agent.config import AgentConfig, SourceConfig
from driftless.agent.context import ReconcileContext
from driftless.agent.loop import Agent
from driftless.agent.steps import run_once

AKIA = "AKIA" + "IOSFODNN7EXAMPLE"  # built from pieces: this file holds no secret


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _project(out: Path, content: str) -> dict[str, str]:
    return {
        "driftless.yaml": "project: t\nstate: sqlite:///.driftless/state.db\n"
                          "stacks: [stacks/web]\n",
        "stacks/web/stack.yaml": (
            "resources:\n  page:\n    type: local:file\n"
            f"    properties: {{path: {out}, content: \"{content}\"}}\n"),
    }


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    return repo


def _agent(tmp_path: Path, repo: Path, *, refuse: bool) -> Agent:
    source = SourceConfig(name="default", url=str(repo), ref="main")
    return Agent(AgentConfig(sources=(source,), state_dir=tmp_path / "agent",
                             refuse_plaintext_secrets=refuse))


def _reconcile(agent: Agent) -> ReconcileContext:
    agent.cycle += 1
    agent.sources.refresh("default")  # the loop fetches before runs; runs never fetch
    ctx = ReconcileContext("web", "default", "manual", agent.cycle, agent.runtime,
                           agent.store.status("web"))
    return run_once(ctx)


def test_a_revision_adding_a_secret_is_stalled_and_not_applied(tmp_path: Path) -> None:
    repo, out = _repo(tmp_path), tmp_path / "page.txt"
    _commit(repo, _project(out, "v1"), "v1")
    agent = _agent(tmp_path, repo, refuse=True)
    first = _reconcile(agent)
    assert first.error is None and out.read_text() == "v1"

    bad = _commit(repo, {**_project(out, "v2"), "deploy/ci.env": f"A=1\nKEY={AKIA}\n"}, "v2")
    second = _reconcile(agent)
    assert second.condition is not None and second.condition.type == "Stalled"
    message = second.condition.message
    assert message.startswith(f"refusing revision {bad[:7]}: plaintext secret in "
                              "deploy/ci.env:2:5 (aws-access-key-id)")
    assert AKIA not in message and AKIA[:4] + "…" not in message
    assert out.read_text() == "v1"  # nothing of the revision was applied
    assert agent.store.status("web").stalled

    _commit(repo, {**_project(out, "v3"), "deploy/ci.env": "A=1\nKEY=${AWS_KEY}\n"}, "v3")
    third = _reconcile(agent)
    assert third.error is None and out.read_text() == "v3"


def test_only_changed_files_are_scanned_and_allow_comments_count(tmp_path: Path) -> None:
    repo, out = _repo(tmp_path), tmp_path / "page.txt"
    # an allowed example key already in the first revision does not stall it
    _commit(repo, {**_project(out, "v1"),
                   "docs/example.md": f"{AKIA}  # driftless:allow-secret\n"}, "v1")
    agent = _agent(tmp_path, repo, refuse=True)
    assert _reconcile(agent).error is None
    _commit(repo, _project(out, "v2"), "v2")
    assert _reconcile(agent).error is None and out.read_text() == "v2"


def test_without_the_setting_the_revision_applies(tmp_path: Path) -> None:
    repo, out = _repo(tmp_path), tmp_path / "page.txt"
    _commit(repo, {**_project(out, "v1"), "ci.env": f"KEY={AKIA}\n"}, "v1")
    assert _reconcile(_agent(tmp_path, repo, refuse=False)).error is None
    assert out.read_text() == "v1"


def test_the_setting_is_read_from_the_agent_config(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("agent:\n  refuse_plaintext_secrets: true\n"
                    "  sources: [{name: app, url: /srv/app.git}]\n")
    assert load_agent_config(path).refuse_plaintext_secrets is True
    path.write_text("agent:\n  sources: [{name: app, url: /srv/app.git}]\n")
    assert load_agent_config(path).refuse_plaintext_secrets is False
