"""Targets in render: local kinds aimed at SSH hosts, inventories, one render per host.

Real project files in tmp_path, rendered with the installed providers (no
server needed: render never connects).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.errors import RenderError
from driftless.model import Deferred, ResourceId
from driftless.providers.registry import ProviderSet
from driftless.render import RenderOptions, load_project, render_stack

PROJECT = """\
project: t
stacks: [stacks/app]
inventory:
  hosts:
    edge-1: {target: "ssh://root@10.0.0.1:2201", vars: {color: blue}}
    edge-2: {target: "ssh://deploy@10.0.0.2", vars: {color: green}}
  groups:
    edge: [edge-1, edge-2]
"""


def _project(tmp_path: Path, stack: str, project: str = PROJECT) -> Path:
    (tmp_path / "driftless.yaml").write_text(project)
    (tmp_path / "stacks" / "app").mkdir(parents=True)
    (tmp_path / "stacks" / "app" / "stack.yaml").write_text(stack)
    return tmp_path


def _render(root: Path, outputs: dict | None = None):  # type: ignore[no-untyped-def, type-arg]
    providers = ProviderSet()
    try:
        return render_stack(load_project(root), "app", RenderOptions(), kinds=providers,
                            stack_outputs=outputs or {})
    finally:
        providers.close()


def test_a_group_target_renders_the_stack_once_per_host(tmp_path: Path) -> None:
    root = _project(tmp_path, """\
target: edge
resources:
  dir: {type: local:directory, properties: {path: /opt/app}}
  env:
    type: local:env_file
    properties:
      path: "${dir.path}/.env"
      values: {COLOR: "${host.vars.color}", HOST: "${host.name}"}
outputs:
  env_path: ${env.path}
""")
    desired = _render(root)
    by_id = {r.id: r for r in desired.resources}
    assert sorted(map(str, by_id)) == ["ssh:directory/dir.edge-1", "ssh:directory/dir.edge-2",
                                       "ssh:env_file/env.edge-1", "ssh:env_file/env.edge-2"]
    env1 = by_id[ResourceId("ssh", "env_file", "env.edge-1")]
    assert env1.properties["ssh_target"] == "ssh://root@10.0.0.1:2201"
    assert env1.properties["values"] == {"COLOR": "blue", "HOST": "edge-1"}
    assert env1.depends_on == (ResourceId("ssh", "directory", "dir.edge-1"),)
    env2 = by_id[ResourceId("ssh", "env_file", "env.edge-2")]
    assert env2.properties["values"]["COLOR"] == "green"
    assert env2.properties["ssh_target"] == "ssh://deploy@10.0.0.2"
    assert set(desired.outputs["env_path"]) == {"edge-1", "edge-2"}
    assert isinstance(desired.outputs["env_path"]["edge-1"], Deferred)


def test_a_resource_target_and_a_plain_url(tmp_path: Path) -> None:
    root = _project(tmp_path, """\
resources:
  here: {type: local:file, properties: {path: /tmp/a, content: x}}
  there: {type: local:file, target: edge-2, properties: {path: /tmp/b, content: y}}
  url: {type: local:file, target: "ssh://10.9.9.9", properties: {path: /tmp/c, content: z}}
""")
    desired = _render(root)
    ids = {str(r.id): r for r in desired.resources}
    assert set(ids) == {"local:file/here", "ssh:file/there", "ssh:file/url"}
    assert "ssh_target" not in ids["local:file/here"].properties
    assert ids["ssh:file/url"].properties["ssh_target"] == "ssh://10.9.9.9"


def test_hosts_from_another_stacks_outputs(tmp_path: Path) -> None:
    (tmp_path / "stacks" / "fleet").mkdir(parents=True)
    (tmp_path / "stacks" / "fleet" / "stack.yaml").write_text("outputs: {hosts: []}\n")
    root = _project(tmp_path, project=PROJECT.replace("[stacks/app]", "[stacks/fleet, stacks/app]"),
                    stack="""\
target: ${stack.fleet.outputs.hosts}
resources:
  motd: {type: local:file, properties: {path: /etc/motd, content: "on ${host.address}"}}
""")
    found = [{"name": "spot-a", "target": "ssh://ec2-user@10.1.0.5"},
             {"name": "spot-b", "target": "ssh://ec2-user@10.1.0.6"}]
    desired = _render(root, {"fleet": {"hosts": found}})
    contents = {str(r.id): r.properties["content"] for r in desired.resources}
    assert contents == {"ssh:file/motd.spot-a": "on 10.1.0.5",
                        "ssh:file/motd.spot-b": "on 10.1.0.6"}


def test_bad_targets_are_render_errors_at_their_line(tmp_path: Path) -> None:
    root = _project(tmp_path, """\
resources:
  a: {type: local:file, target: nowhere, properties: {path: /tmp/a}}
  b: {type: local:file, target: edge, properties: {path: /tmp/b}}
  c: {type: local:container, target: edge-1, properties: {name: x, image: x}}
""")
    with pytest.raises(RenderError) as err:
        _render(root)
    text = str(err.value) + " ".join(p.message for p in err.value.problems)
    assert "'nowhere' is not local, an ssh:// URL, or a host or group" in text
    assert "target names 2 hosts" in text
    assert "provider 'ssh' has no kind 'container'" in text


def test_a_bad_inventory_is_reported(tmp_path: Path) -> None:
    root = _project(tmp_path, "resources: {}\n", project="""\
project: t
stacks: [stacks/app]
inventory:
  hosts: {ok: "ssh://a", bad: "http://b"}
  groups: {g: [ok, missing]}
""")
    with pytest.raises(RenderError) as err:
        load_project(root)
    text = " ".join(p.message for p in err.value.problems)
    assert "inventory host 'bad'" in text and "unknown: missing" in text
