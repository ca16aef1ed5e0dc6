"""validate / render / schema / env init through the real CLI app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from driftless.cli import app

STACK = """\
variables:
  domain: {type: string, description: the public host name}
  password: {type: string, sensitive: true}
  replicas: {type: integer, default: 2, minimum: 1}
resources:
  conf:
    type: local:file
    properties: {path: /tmp/x.conf, content: "${var.domain} ${var.password}"}
"""


def _project(root: Path) -> Path:
    (root / "stacks/app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: t\nenvironments: [prod]\nstacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(STACK)
    return root


def test_validate_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = CliRunner().invoke(app, ["validate", "-C", str(root), "--var", "replicas=0"])
    assert result.exit_code == 1
    out = result.output
    assert "2 errors; nothing was planned." in out  # the secret not given is a warning
    assert "variable 'domain' is required" in out and "below the minimum 1" in out
    assert "warning: sensitive variable 'password' has no value" in out
    assert "Traceback" not in out


def test_validate_success_counts(tmp_path: Path) -> None:
    root = _project(tmp_path)
    args = ["validate", "-C", str(root), "--var", "domain=a.org", "--var", "password=pw"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "valid: 1 stack, 1 resources" in result.output


def test_render_json_masks_secrets_and_shows_digest(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "values.yaml").write_text("domain: a.org\npassword: hunter2\n")
    args = ["render", "app", "-C", str(root), "--var-file", str(root / "values.yaml"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["digest"].startswith("sha256:")
    assert doc["resources"][0]["properties"]["content"] == "(sensitive)"
    assert "hunter2" not in result.output


def test_env_init_writes_template_once(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = CliRunner().invoke(app, ["env", "init", "prod", "-C", str(root)])
    assert result.exit_code == 0, result.output
    text = (root / "environments/prod.yaml").read_text()
    assert "domain: null  # required" in text and "# the public host name" in text
    assert "# replicas: 2" in text and "SENSITIVE" in text
    again = CliRunner().invoke(app, ["env", "init", "prod", "-C", str(root)])
    assert again.exit_code == 1 and "already exists" in again.output


def test_schema_exports_the_file_shapes(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert {"project", "stack", "overlay", "environment"} <= set(doc["$defs"])
    assert "resources" in doc["$defs"]["stack"]["properties"]


def test_unknown_kind_and_property_of_an_installed_provider(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "stacks/app/stack.yaml").write_text(
        "resources:\n  f: {type: local:fiel, properties: {path: /x}}\n"
        "  h: {type: local:file, properties: {pth: /x}}\n"
        "  c: {type: notinstalled:thing, properties: {anything: 1}}\n")
    result = CliRunner().invoke(app, ["validate", "-C", str(root)])
    assert result.exit_code == 1
    assert "provider 'local' has no kind 'fiel'" in result.output
    assert "did you mean 'file'?" in result.output
    assert "unknown property 'pth'" in result.output and "did you mean 'path'?" in result.output
    assert "notinstalled" not in result.output  # checked at plan time, not here


def test_exported_schema_checks_stack_files(tmp_path: Path) -> None:
    import jsonschema
    import yaml

    out = tmp_path / "schema.json"
    assert CliRunner().invoke(app, ["schema", "-o", str(out)]).exit_code == 0
    schema = json.loads(out.read_text())
    stack = {"$ref": "#/$defs/stack", "$defs": schema["$defs"]}
    good = yaml.safe_load("resources:\n  f: {type: local:file, properties: {path: /x}}\n")
    jsonschema.validate(good, stack)
    bad = yaml.safe_load("resources:\n  f: {type: local:file, properties: {pth: /x}}\n")
    try:
        jsonschema.validate(bad, stack)
    except jsonschema.ValidationError:
        return
    raise AssertionError("a misspelt property of local:file should fail the schema")
