"""Change detection on examples/product-variants: a commit plans only the stacks
whose render it changed, and the stacks depending on their outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cli_helpers import run
from driftless.ci.changes import changed_since
from driftless.render import RenderOptions, load_project

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "product-variants"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLE, root / "product", ignore=shutil.ignore_patterns(".driftless*"))
    (root / "README.md").write_text("product\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "product")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _changed(repo: Path, env: str = "local-acme") -> dict[str, str]:
    project = load_project(repo / "product")
    scratch = repo.parent / "base"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    return {c.stack: c.reason for c in changed_since(project, "HEAD", RenderOptions(env=env),
                                                     scratch)}


def test_untouched_tree_plans_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("only the readme changed\n")
    assert _changed(repo) == {}


def test_a_change_to_apps_plans_only_apps(repo: Path) -> None:
    _edit(repo / "product/stacks/apps/files/ingress.conf.j2", "server", "server ")
    changed = _changed(repo)
    assert list(changed) == ["apps"]
    assert changed["apps"] == "stacks/apps/files/ingress.conf.j2 changed"


def test_a_change_upstream_plans_its_dependents(repo: Path) -> None:
    stack = repo / "product/stacks/secrets/stack.yaml"
    _edit(stack, "resources:", "resources:\n  marker:\n    type: local:directory\n"
                               "    properties: {path: /srv/product/marker}")
    changed = _changed(repo)
    assert list(changed) == ["secrets", "agent", "apps"], "infra and cluster are untouched"
    assert changed["agent"] == "depends on the outputs of secrets, which changed"
    assert changed["apps"] == "depends on the outputs of agent, secrets, which changed"


def test_only_the_cluster_stack(repo: Path) -> None:
    _edit(repo / "product/stacks/cluster/stack.yaml", "default: main}", "default: release}")
    assert list(_changed(repo)) == ["cluster"]


def test_environment_values_touch_what_reads_them(repo: Path) -> None:
    values = repo / "product/environments/local-acme.yaml"
    before = _changed(repo, "managed-prod")
    values.write_text(values.read_text() + "\n# a comment changes no render\n")
    assert _changed(repo) == {} and before == {}


def test_plan_changed_since_through_the_cli(repo: Path) -> None:
    _edit(repo / "product/stacks/cluster/stack.yaml", "default: main}", "default: release}")
    _git(repo, "commit", "-q", "-am", "cluster: release branch")
    out = run(repo / "product", "plan", "--changed-since", "HEAD~1", "--env", "local-acme",
              "--no-secrets", "--format", "json", "--no-refresh")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [p["stack"] for p in doc["plans"]] == ["cluster"]
    assert doc["selected"][0].startswith("cluster: its render changed")
    text = run(repo / "product", "plan", "--changed-since", "HEAD", "--env", "local-acme",
               "--no-secrets", "--no-refresh")
    assert "No stack changed: nothing to plan." in text.stdout


def test_ci_affected_for_a_workflow(repo: Path) -> None:
    _edit(repo / "product/stacks/cluster/stack.yaml", "default: main}", "default: release}")
    out = run(repo / "product", "ci", "affected", "--since", "HEAD", "--env", "local-acme",
              "--github-output", check=True)
    assert out.stdout.strip() == 'stacks=["cluster"]'
    first = run(repo / "product", "ci", "affected", "--since", "0" * 40, check=True)
    assert "infra: no previous commit" in first.stdout


def test_a_revision_the_clone_lacks_plans_everything(repo: Path) -> None:
    project = load_project(repo / "product")
    changes = changed_since(project, "1" * 40, RenderOptions(env="local-acme"), repo.parent)
    assert [c.stack for c in changes] == ["infra", "secrets", "agent", "apps", "cluster"]
    assert "is not in this clone" in changes[0].reason
