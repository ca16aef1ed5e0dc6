"""The renderer's API as the engine uses it: real project trees in tmp_path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from driftless.errors import ConfigError, RenderError
from driftless.model import UNKNOWN, Deferred, ResourceId, Sensitive
from driftless.render import (
    RenderOptions,
    find_project,
    load_project,
    render_stack,
    stack_json,
    stack_order,
    validate_project,
)

STACK = """\
variables:
  port: {type: integer, default: 8080}
  token: {type: string, sensitive: true, default: tok-123}
resources:
  db: {type: local:service, properties: {command: /usr/bin/db}}
  web:
    type: local:file
    properties:
      path: /etc/web.conf
      content: "db=${db.host}:${var.port} token=${var.token}"
outputs:
  url: "http://${db.host}:${var.port}"
"""


def _project(root: Path, stack: str = STACK) -> Path:
    (root / "stacks/app").mkdir(parents=True)
    (root / "stacks/infra").mkdir(parents=True)
    (root / "driftless.yaml").write_text(
        "project: t\nenvironments: [prod]\nproviders: {aws: {region: us-east-1}}\n"
        "stacks: [stacks/app, stacks/infra]\n")
    (root / "stacks/app/stack.yaml").write_text(stack)
    (root / "stacks/infra/stack.yaml").write_text("depends_on: [app]\nresources: {}\n")
    (root / "environments").mkdir()
    (root / "environments/prod.yaml").write_text("providers: {aws: {region: eu-west-1}}\n")
    return root


def test_find_project_walks_up_and_fails_cleanly(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    assert find_project(root / "stacks" / "app") == root.resolve()
    with pytest.raises(ConfigError, match=r"no driftless\.yaml"):
        find_project(tmp_path)


def test_stack_order_puts_dependencies_first(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    assert stack_order(project) == ["app", "infra"]
    assert stack_order(project, ["infra"]) == ["app", "infra"]
    assert project.stacks["infra"].depends_on == ("app",)


def test_provider_config_merges_environment(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    assert project.provider_config(None)["aws"]["region"] == "us-east-1"
    assert project.provider_config("prod")["aws"]["region"] == "eu-west-1"


def test_reference_is_deferred_until_the_target_is_known(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    desired = render_stack(project, "app", RenderOptions(environ={}))
    web = next(r for r in desired.resources if r.id.name == "web")
    db = ResourceId("local", "service", "db")
    content = web.properties["content"]
    assert isinstance(content, Deferred) and content.refs == {db}
    assert db in web.depends_on
    assert content.evaluate(lambda rid: None) is UNKNOWN
    value = content.evaluate(lambda rid: {"host": "10.0.0.5"} if rid == db else None)
    assert isinstance(value, Sensitive)  # computed from a secret
    assert value.value == "db=10.0.0.5:8080 token=tok-123"
    assert desired.outputs["url"].evaluate(lambda rid: {"host": "h"}) == "http://h:8080"


def test_render_json_never_shows_secrets(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    desired = render_stack(project, "app", RenderOptions(variables={"token": "s3cr3t"}))
    assert "s3cr3t" not in str(stack_json(desired))


def _digest_in_subprocess(root: Path, *args: str) -> str:
    code = ("import sys; from pathlib import Path; from driftless.render import *; "
            "p = load_project(Path(sys.argv[1])); "
            "vs = dict(a.split('=', 1) for a in sys.argv[2:]); "
            "print(render_stack(p, 'app', RenderOptions(variables=vs, environ={})).digest)")
    out = subprocess.run([sys.executable, "-c", code, str(root), *args], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def test_digest_is_byte_identical_across_processes(tmp_path: Path) -> None:
    root = _project(tmp_path)
    first = _digest_in_subprocess(root)
    assert first.startswith("sha256:") and _digest_in_subprocess(root) == first
    # a variable used only inside a deferred string still changes the digest
    assert _digest_in_subprocess(root, "port=9090") != first
    assert _digest_in_subprocess(root, "token=other") != first


def test_validate_reports_every_stack_at_once(tmp_path: Path) -> None:
    root = _project(tmp_path, STACK.replace("${var.port}", "${var.prot}"))
    (root / "stacks/infra/stack.yaml").write_text(
        "resources:\n  x: {type: local:file, properties: {path: '${var.nope}'}}\n")
    problems = validate_project(load_project(root), RenderOptions(environ={}))
    messages = [p.message for p in problems]
    assert "unknown variable 'var.prot'" in messages
    assert "unknown variable 'var.nope'" in messages
    assert all(p.file and p.line for p in problems)


def test_bad_sensitive_value_is_not_echoed(tmp_path: Path) -> None:
    stack = "variables:\n  pin: {type: integer, sensitive: true}\nresources: {}\n"
    project = load_project(_project(tmp_path, stack))
    with pytest.raises(RenderError) as err:
        render_stack(project, "app", RenderOptions(variables={"pin": "hunter2"}, environ={}))
    assert "hunter2" not in str(err.value.problems)


def test_environment_variables_are_a_source(tmp_path: Path) -> None:
    stack = "variables:\n  n: {type: integer}\nresources:\n  f:\n    type: local:file\n" \
            "    count: ${var.n}\n    properties: {path: '/f${count.index}'}\n"
    project = load_project(_project(tmp_path, stack))
    desired = render_stack(project, "app", RenderOptions(environ={"DRIFTLESS_VAR_n": "3"}))
    assert [str(r.id) for r in desired.resources] == [f"local:file/f[{i}]" for i in range(3)]


def test_parsed_files_are_cached_by_content(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    first = project.load_stack_doc("app")
    assert project.load_stack_doc("app") is first
    project.stack_file("app").write_text(STACK + "# changed\n")
    assert project.load_stack_doc("app") is not first
