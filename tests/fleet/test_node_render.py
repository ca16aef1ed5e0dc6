"""``${node.*}`` in render: the fleet node's name, address, tags and peers, set by an
agent in fleet mode (DRIFTLESS_FLEET_NODE); outside fleet mode ``node`` is a resource
name as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from driftless.errors import RenderError
from driftless.render import RenderOptions, load_project, render_stack

STACK = """\
select: {role: worker}
resources:
  peers:
    type: local:file
    properties:
      path: /tmp/peers-${node.name}.json
      content: '${jsonencode(node.peers)}'
      mode: "0644"
  env:
    type: local:file
    properties:
      path: /tmp/node-${node.tags.gpu}.env
      content: "ADDRESS=${node.address}"
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "stacks" / "w").mkdir(parents=True)
    (tmp_path / "driftless.yaml").write_text("project: p\nstacks: [stacks/w]\n")
    (tmp_path / "stacks" / "w" / "stack.yaml").write_text(STACK)
    return tmp_path


def test_node_values_render_in_fleet_mode(tmp_path: Path) -> None:
    node = {"name": "gpu-1", "address": "10.0.0.7", "tags": {"role": "worker", "gpu": "l4"},
            "peers": [{"name": "gpu-1", "address": "10.0.0.7"}]}
    project = load_project(_project(tmp_path))
    out = render_stack(project, "w", RenderOptions(
        environ={"DRIFTLESS_FLEET_NODE": json.dumps(node)}))
    props = {str(r.id): dict(r.properties) for r in out.resources}
    assert props["local:file/peers"]["path"] == "/tmp/peers-gpu-1.json"
    assert json.loads(props["local:file/peers"]["content"]) == node["peers"]
    assert props["local:file/env"]["path"] == "/tmp/node-l4.env"
    assert props["local:file/env"]["content"] == "ADDRESS=10.0.0.7"


def test_without_fleet_mode_node_is_a_resource_name(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    with pytest.raises(RenderError, match="node"):
        render_stack(project, "w", RenderOptions(environ={}))
