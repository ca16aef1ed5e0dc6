"""``bootstrap``: from local state to a new S3 bucket + lock table, then again (no changes)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import ConfigError
from driftless.model import ResourceId, ResourceState
from driftless.render.project import load_project
from driftless.state import open_backend
from driftless.workflows import bootstrap

PROJECT = """\
# the demo project
project: demo   # its name
stacks:
  - web   # the only stack
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "driftless.yaml").write_text(PROJECT)
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "stack.yaml").write_text("resources: {}\n")
    local = open_backend("sqlite:///.driftless/state.db", root=tmp_path)
    rid = ResourceId("local", "file", "motd")
    snap = local.read("web")
    local.write("web", snap.next({rid: ResourceState(rid, {"path": "/etc/motd"})}))
    local.close()
    return tmp_path


def test_bootstrap_from_nothing_then_again(tmp_path: Path, aws_creds: str, s3_client: Any
                                           ) -> None:
    root = _project(tmp_path)
    bucket, table = f"boot-{uuid.uuid4().hex[:10]}", f"locks-{uuid.uuid4().hex[:8]}"
    url = f"s3://{bucket}/demo?region=us-east-1&endpoint={aws_creds}"
    first = bootstrap(load_project(root), url, lock_table=table)
    assert first.changed and sorted(first.copied) == ["bootstrap", "web"]
    assert {str(r.id) for r in first.results} == {
        "aws:s3.Bucket/state", "aws:dynamodb.Table/locks"}
    assert s3_client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    text = (root / "driftless.yaml").read_text()
    assert text == PROJECT.replace("stacks:", f"state: {first.url}\nstacks:")

    project = load_project(root)
    assert project.state_url == first.url
    remote = open_backend(project.state_url, root=root)
    assert remote.stacks() == ["bootstrap", "web"]
    assert all(r.protect for r in remote.read("bootstrap").resources.values())
    assert remote.read("web").serial == 1

    again = bootstrap(project, url, lock_table=table)
    assert not again.changed and again.config_file is None and again.migration == ()
    assert not again.plan.has_changes()
    assert (root / "driftless.yaml").read_text() == text


def test_bootstrap_refuses_conflicting_lock_tables(tmp_path: Path, aws_creds: str) -> None:
    root = _project(tmp_path)
    with pytest.raises(ConfigError, match="disagrees"):
        bootstrap(load_project(root), f"s3://b-x/k?lock_table=a&endpoint={aws_creds}",
                  lock_table="b")


def test_set_state_url_replaces_in_place_keeping_comments(tmp_path: Path) -> None:
    from driftless.workflows.bootstrap import set_state_url

    path = tmp_path / "driftless.yaml"
    path.write_text("project: p\nstate: sqlite:///.driftless/state.db  # local for now\n"
                    "stacks:\n    - a\n    - b\n")
    assert set_state_url(path, "s3://bkt/p?region=eu-west-1")
    lines = path.read_text().splitlines()
    assert lines[1].startswith("state: s3://bkt/p?region=eu-west-1 ")
    assert lines[1].endswith("# local for now")  # the comment stays (at its old column)
    assert lines[2:] == ["stacks:", "    - a", "    - b"]
    assert not set_state_url(path, "s3://bkt/p?region=eu-west-1")
