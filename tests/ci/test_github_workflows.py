"""``driftless ci github``: workflows that validate against the GitHub Actions
workflow schema vendored by check-jsonschema (no network), with OIDC roles, no
static keys, one concurrency group per stack and jobs in dependency order."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from cli_helpers import run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "product-variants"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
PLAN_ROLE = "arn:aws:iam::123456789012:role/driftless-plan"
APPLY_ROLE = "arn:aws:iam::123456789012:role/driftless-apply"


def _validate(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows",
                           *map(str, files)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def workflows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("wf") / "repo"
    shutil.copytree(EXAMPLE, repo / "product", ignore=shutil.ignore_patterns(".driftless*"))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    run(repo / "product", "ci", "github", "--plan-role", PLAN_ROLE, "--apply-role", APPLY_ROLE,
        "--region", "eu-west-1", "--env", "managed-prod", check=True)
    return repo / ".github" / "workflows"


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def test_workflows_validate_against_the_vendored_schema(workflows: Path) -> None:
    files = sorted(workflows.glob("*.yml"))
    assert [f.name for f in files] == ["driftless-apply.yml", "driftless-plan.yml"]
    result = _validate(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = workflows.parent / "broken.yml"
    doc = _load(files[0])
    doc["jobs"]["detect"]["runs-on"] = {"not": "a runner"}
    doc["jobs"]["detect"]["permissions"] = {"id-token": "sometimes"}
    broken.write_text(json.dumps(doc))
    assert _validate(broken).returncode != 0, "the schema check is not a rubber stamp"


def test_oidc_roles_and_no_static_keys(workflows: Path) -> None:
    text = "".join(p.read_text() for p in workflows.glob("*.yml"))
    for static in ("aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY",
                   "AWS_ACCESS_KEY_ID"):
        assert static not in text
    plan = _load(workflows / "driftless-plan.yml")
    job = plan["jobs"]["plan"]
    assert job["permissions"]["id-token"] == "write"
    creds = [s for s in job["steps"] if str(s.get("uses", "")).startswith(
        "aws-actions/configure-aws-credentials@")]
    assert creds[0]["with"] == {"role-to-assume": PLAN_ROLE, "aws-region": "eu-west-1",
                                "role-session-name": "driftless-${{ github.run_id }}"}
    apply = _load(workflows / "driftless-apply.yml")
    for name, job in apply["jobs"].items():
        if name == "detect":
            assert "id-token" not in job["permissions"]
            continue
        assert job["permissions"]["id-token"] == "write"
        roles = [s["with"]["role-to-assume"] for s in job["steps"] if "with" in s
                 and "role-to-assume" in s["with"]]
        assert roles == [APPLY_ROLE]


def test_pull_request_plans_affected_stacks_and_comments(workflows: Path) -> None:
    plan = _load(workflows / "driftless-plan.yml")
    assert plan["on"] == {"pull_request": {"branches": ["main"]}}
    steps = plan["jobs"]["plan"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "driftless -C product validate --env managed-prod" in runs
    assert "driftless scan product" in runs
    assert ("plan --changed-since origin/${{ github.base_ref }} --env managed-prod "
            "--no-secrets --format markdown") in runs
    assert "ci comment-parts plan.md" in runs
    script = next(s for s in steps if str(s.get("uses", "")).startswith("actions/github-script"))
    assert "updateComment" in script["with"]["script"]
    cache = next(s for s in steps if str(s.get("uses", "")).startswith("actions/cache"))
    assert cache["with"]["path"] == ".venv"


def test_apply_on_push_one_concurrency_group_per_stack(workflows: Path) -> None:
    apply = _load(workflows / "driftless-apply.yml")
    assert apply["on"] == {"push": {"branches": ["main"]}}
    jobs = apply["jobs"]
    assert set(jobs) == {"detect", "apply-infra", "apply-secrets", "apply-agent", "apply-apps",
                         "apply-cluster"}
    groups = {name: job["concurrency"]["group"] for name, job in jobs.items() if name != "detect"}
    assert len(set(groups.values())) == 5
    assert groups["apply-apps"] == "driftless-apply-apps"
    assert jobs["apply-secrets"]["needs"] == ["detect", "apply-infra"]
    assert "'apps')" in jobs["apply-apps"]["if"]
    last = jobs["apply-apps"]["steps"][-1]["run"]
    assert last == "driftless -C product apply --stack apps --env managed-prod --auto-approve"
    detect = "\n".join(s.get("run", "") for s in jobs["detect"]["steps"])
    assert "ci affected --since ${{ github.event.before }}" in detect


def test_saved_plans_workflow_validates(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo / "product", ignore=shutil.ignore_patterns(".driftless*"))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    run(repo / "product", "ci", "github", "--plan-role", PLAN_ROLE, "--apply-role", APPLY_ROLE,
        "--save-plans", check=True)
    plan_file = repo / ".github" / "workflows" / "driftless-plan.yml"
    result = _validate(plan_file)
    assert result.returncode == 0, result.stdout + result.stderr
    job = _load(plan_file)["jobs"]["plan"]
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "-out plan.json --format markdown" in runs and "--no-secrets" not in runs
    assert "ci save-plan plan.json --commit ${{ github.event.pull_request.head.sha }}" in runs
    assert job["permissions"]["contents"] == "write"


def test_gitlab_pipeline_validates(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo / "product", ignore=shutil.ignore_patterns(".driftless*"))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    run(repo / "product", "ci", "gitlab", "--plan-role", PLAN_ROLE, "--apply-role", APPLY_ROLE,
        "--env", "managed-prod", check=True)
    pipeline = repo / ".gitlab-ci.yml"
    result = subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci",
                             str(pipeline)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = _load(pipeline)
    assert "AWS_SECRET_ACCESS_KEY" not in pipeline.read_text()
    assert doc["apply-apps"]["resource_group"] == "driftless-apps"
    assert doc["apply-secrets"]["needs"] == [{"job": "apply-infra", "optional": True}]
    assert doc["apply-apps"]["variables"]["AWS_ROLE_ARN"] == APPLY_ROLE
    assert doc["plan"]["id_tokens"]["DRIFTLESS_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
