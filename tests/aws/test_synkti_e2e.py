"""examples/synkti end to end through the CLI against a moto server (acceptance 2).

plan → apply → plan shows no changes; worker_count 0 → 3 → 1 creates and
deletes the right instances; outputs print; destroy leaves the protected
models bucket and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "synkti"


def _project(tmp_path: Path, endpoint: str) -> Path:
    root = tmp_path / "synkti"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".driftless"))
    env_file = root / "environments" / "moto.yaml"
    env_file.write_text(env_file.read_text().replace("http://127.0.0.1:5000", endpoint))
    return root


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "driftless", *args[:1], "-C", str(root), "--env", "moto",
           *args[1:]]
    done = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ),
                          timeout=120, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def _workers(endpoint: str) -> set[str]:
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    out = ec2.describe_instances(Filters=[
        {"Name": "tag:SynktiRole", "Values": ["worker"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return {i["InstanceId"] for r in out["Reservations"] for i in r["Instances"]}


def _outputs(root: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "driftless", "output", "-C", str(root),
                           "--json"], capture_output=True, text=True, check=True, timeout=60)
    doc: dict[str, object] = json.loads(done.stdout)["infra"]
    return doc


@pytest.mark.slow
def test_synkti_lifecycle_against_moto(aws_env: str, tmp_path: Path) -> None:
    root = _project(tmp_path, aws_env)
    _cli(root, "apply", "--auto-approve")
    assert "No changes" in _cli(root, "plan").stdout

    _cli(root, "apply", "--auto-approve", "--var", "worker_count=3")
    three = _outputs(root)["worker_instance_ids"]
    assert isinstance(three, list) and len(three) == 3 and set(three) == _workers(aws_env)
    assert "No changes" in _cli(root, "plan", "--var", "worker_count=3").stdout

    _cli(root, "apply", "--auto-approve", "--var", "worker_count=1")
    outputs = _outputs(root)
    assert outputs["worker_instance_ids"] == three[:1] and _workers(aws_env) == set(three[:1])
    assert outputs["models_bucket_name"] == "synkti-models"
    assert str(outputs["security_group_id"]).startswith("sg-")

    done = _cli(root, "destroy", "--auto-approve", "--var", "worker_count=1")
    assert "aws:s3.Bucket/models" in done.stdout + done.stderr
    assert "protected" in done.stdout + done.stderr
    names = [b["Name"] for b in boto3.client("s3", endpoint_url=aws_env).list_buckets()["Buckets"]]
    assert names == ["synkti-models"]
    assert _workers(aws_env) == set()
