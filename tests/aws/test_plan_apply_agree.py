"""Plan and apply agree on examples/synkti against a moto server.

The case that over-reported before: drift on two resources that others
reference (tags removed by hand from the models bucket and the worker role).
An in-place update keeps a bucket's ARN and a role's name, so the role
policy and the instance profile that reference them are not shown as
``(known after apply)`` updates that apply then skips. Every plan below must
name exactly the changes apply makes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "synkti"


def _project(tmp_path: Path, endpoint: str) -> Path:
    root = tmp_path / "synkti"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".driftless"))
    env_file = root / "environments" / "moto.yaml"
    env_file.write_text(env_file.read_text().replace("http://127.0.0.1:5000", endpoint))
    return root


def _json(root: Path, *args: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "driftless", *args[:1], "-C", str(root), "--env", "moto",
           "--json", *args[1:]]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ),
                          timeout=180, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def _plan_then_apply(root: Path, *args: str) -> list[tuple[str, str]]:
    """Plan, apply, and check they name the same changes; returns them."""
    planned = sorted((c["address"], c["action"])
                     for p in _json(root, "plan", *args)["plans"] for c in p["changes"])
    done = _json(root, "apply", "--auto-approve", *args)
    results = done.get("results", [])  # with nothing to do, apply prints its plan only
    made = sorted((r["address"], r["action"]) for r in results if r["action"] != "no-op")
    assert planned == made, f"plan said {planned}, apply did {made}"
    assert all(r["outcome"] == "applied" for r in results), results
    return made


@pytest.mark.slow
def test_plans_name_exactly_what_apply_does(aws_env: str, tmp_path: Path) -> None:
    root = _project(tmp_path, aws_env)
    assert len(_plan_then_apply(root, "--var", "worker_count=2")) > 5
    boto3.client("s3", endpoint_url=aws_env).delete_bucket_tagging(Bucket="synkti-models")
    boto3.client("iam", endpoint_url=aws_env).untag_role(RoleName="synkti-worker",
                                                         TagKeys=["Project"])
    drifted = _plan_then_apply(root, "--var", "worker_count=2")
    assert drifted == [("aws:iam.Role/worker_role", "update"),
                       ("aws:s3.Bucket/models", "update")]
    assert len(_plan_then_apply(root, "--var", "worker_count=3")) == 1
    assert _plan_then_apply(root, "--var", "worker_count=3") == []
