"""A saved plan of a fresh multi-stack project: downstream values known after apply.

``plan -out`` shows the downstream stack with the upstream's outputs unknown;
``apply plan.json`` applies the upstream, plans the downstream again with the
real values, shows that plan, and applies it, as long as it needs no change
the saved plan did not show. Anything else about the stack moving refuses the
whole file before anything is applied.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from cli_helpers import run


def _project(root: Path, content: str = "hello") -> None:
    (root / "stacks" / "infra").mkdir(parents=True, exist_ok=True)
    (root / "stacks" / "app").mkdir(parents=True, exist_ok=True)
    (root / "driftless.yaml").write_text(yaml.safe_dump({
        "project": "ms", "state": "sqlite:///.driftless/state.db",
        "stacks": ["stacks/infra", "stacks/app"]}))
    (root / "stacks" / "infra" / "stack.yaml").write_text(yaml.safe_dump({
        "resources": {"data": {"type": "local:directory",
                               "properties": {"path": str(root / "data")}}},
        "outputs": {"data_dir": "${data.path}"}}))
    (root / "stacks" / "app" / "stack.yaml").write_text(yaml.safe_dump({
        "depends_on": ["infra"],
        "resources": {
            "conf": {"type": "local:file", "properties": {
                "path": "${stack.infra.outputs.data_dir}/app.conf", "content": content}},
            "other": {"type": "local:file", "properties": {
                "path": str(root / "other.txt"), "content": "x"}}}}))


def test_a_saved_plan_of_a_fresh_project_applies_whole(tmp_path: Path) -> None:
    _project(tmp_path)
    plan = run(tmp_path, "plan", "-out", "plan.json", check=True)
    assert "known after apply: an upstream stack" in plan.stdout
    saved = json.loads((tmp_path / "plan.json").read_text())
    app = next(p for p in saved["plans"] if p["stack"] == "app")
    assert app["awaiting"] == {"infra": ["data_dir"]}
    applied = run(tmp_path, "apply", "plan.json", check=True)
    assert "planned again with them" in applied.stdout
    assert str(tmp_path / "data" / "app.conf") in applied.stdout  # the value now known
    assert (tmp_path / "data" / "app.conf").read_text() == "hello"
    after = run(tmp_path, "plan", "--json", check=True)
    assert all(not p["changes"] for p in json.loads(after.stdout)["plans"])


def test_a_changed_downstream_refuses_the_whole_file_before_applying(tmp_path: Path) -> None:
    _project(tmp_path)
    run(tmp_path, "plan", "-out", "plan.json", check=True)
    _project(tmp_path, content="changed after the plan")
    proc = run(tmp_path, "apply", "plan.json")
    assert proc.returncode == 1
    assert "stack 'app': the configuration changed since this plan was made" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists(), "infra was applied though app was stale"
