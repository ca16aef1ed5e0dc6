"""End to end against a served git repository: CI saves a pull request's plan in
git, the branch is merged, and the agent applies exactly that plan; a second
merge whose plan was made before another merge changed the state is refused,
and the agent records why."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "agent"))

from agent_helpers import AgentProc, running_agent

from cli_helpers import run
from gitserver import Workdir, git, git_http_server, init_bare


def _files(state: Path, out: Path, content: str, *, require: bool,
           extra: str = "") -> dict[str, str]:
    settings = "settings:\n  reviewed_plans: {require: [web]}\n" if require else ""
    return {
        "driftless.yaml": f"project: t\nstate: sqlite:///{state}\nstacks: [stacks/web]\n"
                          f"{settings}",
        "stacks/web/stack.yaml": (
            f"resources:\n{extra}  # the page\n  # (kept apart from the lines above, so\n"
            "  # two pull requests merge cleanly)\n  page:\n    type: local:file\n"
            f"    properties: {{path: {out}/page.txt, content: \"{content}\"}}\n"),
    }


def _ci(wd: Workdir, tmp_path: Path, env: dict[str, str]) -> None:
    """What the pull request workflow does: plan with state, save it in git."""
    plan = tmp_path / f"plan-{wd.head()[:8]}.json"
    os.environ.update(env)
    run(wd.path, "plan", "-out", str(plan), check=True)
    saved = run(wd.path, "ci", "save-plan", str(plan), "--commit", wd.head(), check=True)
    assert f"refs/driftless/plans/{wd.head()}/web" in saved.stdout


def _merge(main: Workdir, branch: str, message: str) -> str:
    git("fetch", "--quiet", "origin", cwd=main.path)
    git("merge", "--quiet", "--no-ff", "-m", message, f"origin/{branch}", cwd=main.path)
    main.push()
    return main.head()


def _history(agent: AgentProc) -> list[dict[str, object]]:
    return list(agent.get("/api/v1/stacks/web/history")["history"])


def test_reviewed_plan_applied_then_stale_plan_refused(tmp_path: Path,
                                                       monkeypatch: object) -> None:
    shared, out = tmp_path / "shared", tmp_path / "out"
    shared.mkdir()
    out.mkdir()
    state = shared / "state.db"
    env = {"DRIFTLESS_ALLOW_READ": str(shared)}
    init_bare(tmp_path / "srv", "app.git")
    with git_http_server(tmp_path / "srv") as base:
        url = f"{base}/app.git"
        main = Workdir.clone(url, tmp_path / "main")
        main.write(_files(state, out, "v1", require=False)).commit("v1").push()
        with running_agent(tmp_path / "agent", "--source", url, "--interval", "0.5",
                           env=env) as agent:
            agent.wait(lambda s: s["revision"] == main.head() and s["sync"] == "Synced")
            assert (out / "page.txt").read_text() == "v1"

            # PR 1: v2, and from now on web is applied only from a reviewed plan
            pr1 = Workdir.clone(url, tmp_path / "pr1")
            git("checkout", "--quiet", "-b", "pr1", cwd=pr1.path)
            pr1.write(_files(state, out, "v2", require=True)).commit("v2").push("HEAD:pr1")
            _ci(pr1, tmp_path, env)
            merged = _merge(main, "pr1", "Merge pr1")
            agent.wait(lambda s: s["revision"] == merged and s["sync"] == "Synced")
            assert (out / "page.txt").read_text() == "v2"
            applied = next(h for h in _history(agent) if h["revision"] == merged)
            assert f"applying the plan reviewed at {pr1.head()[:7]}" in str(applied["reason"])

            # PR 2 (v3) and PR 3 (a second file) are planned against the same state
            prs = {}
            for name, files in [
                ("pr2", _files(state, out, "v3", require=True)),
                ("pr3", _files(state, out, "v2", require=True, extra=(
                    "  notes:\n    type: local:file\n"
                    f"    properties: {{path: {out}/notes.txt, content: \"n\"}}\n")))]:
                wd = Workdir.clone(url, tmp_path / name)
                git("checkout", "--quiet", "-b", name, cwd=wd.path)
                wd.write(files).commit(name).push(f"HEAD:{name}")
                _ci(wd, tmp_path, env)
                prs[name] = wd

            # PR 3 merges first: applied exactly, the state moves on
            merged3 = _merge(main, "pr3", "Merge pr3")
            agent.wait(lambda s: s["revision"] == merged3 and s["sync"] == "Synced")
            assert (out / "notes.txt").read_text() == "n"

            # PR 2's reviewed plan is now stale: refused, nothing applied, the reason kept
            merged2 = _merge(main, "pr2", "Merge pr2")
            st = agent.wait(lambda s: any(c["type"] == "Stalled" for c in s["conditions"])
                            and merged2[:7] in str(s.get("message", "")) + str(s))
            assert (out / "page.txt").read_text() == "v2", "the stale plan was not applied"
            found = re.search(r"the reviewed plan is stale: serial (\d+) → (\d+)", st["message"])
            assert found and int(found[2]) == int(found[1]) + 1, st["message"]
            assert "renders differently" in st["message"]
            history = [h for h in _history(agent) if h["revision"] == merged2]
            assert history and "the reviewed plan is stale: serial" in str(history[0]["reason"])
