"""The agent reconciles only what a commit changed: a stack whose render digest
(its files, values and its upstream stacks' outputs) is the deployed one is
recorded at the new revision without a plan; a change upstream that moves an
output reaches the stacks that read it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "agent"))

from agent_helpers import AgentProc, running_agent

from gitserver import Workdir, git_http_server, init_bare


def _files(out: Path, base: str, app: str, readme: str = "r") -> dict[str, str]:
    return {
        "README.md": readme,
        "driftless.yaml": "project: t\nstate: sqlite:///.driftless/state.db\n"
                          "stacks: [stacks/base, stacks/app]\n",
        "stacks/base/stack.yaml": (
            "resources:\n  conf:\n    type: local:file\n"
            f"    properties: {{path: {out}/base.txt, content: \"{base}\"}}\n"
            f"outputs:\n  greeting: \"{base}\"\n"),
        "stacks/app/stack.yaml": (
            "depends_on: [base]\nresources:\n  page:\n    type: local:file\n"
            f"    properties: {{path: {out}/app.txt, "
            f"content: \"{app} ${{stack.base.outputs.greeting}}\"}}\n"),
    }


def _entry(agent: AgentProc, stack: str, rev: str) -> dict[str, object]:
    agent.wait(lambda s: s["revision"] == rev and s["sync"] == "Synced", name=stack)
    history = agent.get(f"/api/v1/stacks/{stack}/history")["history"]
    return next(h for h in history if h["revision"] == rev)


def test_agent_plans_only_changed_renders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    init_bare(tmp_path / "srv", "app.git")
    with git_http_server(tmp_path / "srv") as base:
        wd = Workdir.clone(f"{base}/app.git", tmp_path / "wd")
        wd.write(_files(out, "hello", "v1")).commit("v1").push()
        with running_agent(tmp_path / "agent", "--source", f"{base}/app.git",
                           "--interval", "0.5") as agent:
            _entry(agent, "app", wd.head())
            assert (out / "app.txt").read_text() == "v1 hello"

            wd.write(_files(out, "hello", "v1", readme="only the readme")).commit("docs").push()
            for stack in ("base", "app"):
                entry = _entry(agent, stack, wd.head())
                assert "render unchanged since" in str(entry["reason"]), \
                    agent.get(f"/api/v1/stacks/{stack}/history")["history"]
                assert not entry["results"]

            wd.write(_files(out, "hello", "v2", readme="only the readme")).commit("app").push()
            assert "render unchanged since" in str(_entry(agent, "base", wd.head())["reason"])
            app = _entry(agent, "app", wd.head())
            assert "render unchanged" not in str(app["reason"]) and app["results"]
            assert (out / "app.txt").read_text() == "v2 hello"

            wd.write(_files(out, "bonjour", "v2", readme="only the readme")).commit("base")
            wd.push()
            assert _entry(agent, "base", wd.head())["results"]
            app = _entry(agent, "app", wd.head())
            assert app["results"], "the upstream output moved, so app was planned"
            assert (out / "app.txt").read_text() == "v2 bonjour"
