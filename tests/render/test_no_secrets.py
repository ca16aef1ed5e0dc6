"""CI without secrets: validate and plan --no-secrets with sensitive variables absent.

A sensitive variable without a value is a warning and a typed placeholder;
a non-sensitive one is still an error; --require-secrets restores the error;
a plan made with placeholders is marked and never saved.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftless.cli import app
from driftless.errors import Problem, RenderError
from driftless.model import UNKNOWN, Sensitive
from driftless.render import RenderOptions, load_project, render_stack

REPO = Path(__file__).resolve().parents[2]

STACK = """\
variables:
  token: {type: string, sensitive: true, pattern: "[a-z]{40}"}
  port: {type: integer, sensitive: true, minimum: 1024}
  db:
    type: object
    sensitive: true
    fields: {host: string, password: {type: string, pattern: "x+"}}
  domain: {type: string}
resources:
  conf:
    type: local:file
    properties:
      path: /tmp/driftless-no-secrets.conf
      content: "${var.domain} ${var.token} ${var.db.password}@${var.db.host}:${var.port}"
"""


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's own DRIFTLESS_VAR_* must not give the secrets these tests leave out."""
    import os

    for name in [k for k in os.environ if k.startswith("DRIFTLESS_VAR_")]:
        monkeypatch.delenv(name)


def _project(root: Path, env_values: str = "variables: {domain: a.org}\n") -> Path:
    (root / "stacks/app").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "driftless.yaml").write_text(
        "project: t\nstate: sqlite:///.driftless/state.db\nenvironments: [prod]\n"
        "stacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(STACK)
    (root / "environments/prod.yaml").write_text(env_values)
    return root


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_placeholders_are_typed_and_reported_once_each(tmp_path: Path) -> None:
    found: list[Problem] = []
    options = RenderOptions(env="prod", on_missing_secret=found.append)
    desired = render_stack(load_project(_project(tmp_path)), "app", options)
    assert [p.message.split(" has")[0] for p in found] == [
        "sensitive variable 'token'", "sensitive variable 'port'", "sensitive variable 'db'"]
    assert (found[0].file, found[0].line) == ("stacks/app/stack.yaml", 2)
    # a string built from a placeholder is unknown: no pattern or schema can judge it
    assert desired.resources[0].properties["content"] is UNKNOWN


def test_an_object_placeholder_keeps_its_fields(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "stacks/app/stack.yaml").write_text(STACK.replace(
        'content: "${var.domain}', 'owner: ${var.db}\n      content: "${var.domain}'))
    options = RenderOptions(env="prod", on_missing_secret=lambda p: None)
    desired = render_stack(load_project(root), "app", options)
    assert desired.resources[0].properties["owner"] == {
        "host": UNKNOWN, "password": UNKNOWN}


def test_without_the_option_a_missing_secret_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="variable 'token' is required and has no value"):
        render_stack(load_project(_project(tmp_path)), "app", RenderOptions(env="prod"))


def test_given_secrets_are_used_and_wrapped_without_warnings(tmp_path: Path) -> None:
    found: list[Problem] = []
    options = RenderOptions(env="prod", on_missing_secret=found.append,
                            variables={"token": "a" * 40, "port": "2048",
                                       "db": "{host: h, password: xx}"})
    desired = render_stack(load_project(_project(tmp_path)), "app", options)
    assert found == [] and isinstance(desired.resources[0].properties["content"], Sensitive)


def test_validate_warns_names_the_environment_and_exits_0(tmp_path: Path) -> None:
    code, out = _cli("validate", "-C", str(_project(tmp_path)), "--env", "prod")
    assert code == 0, out
    assert ("warning: sensitive variable 'token' has no value for environment prod (give it "
            "with --var, a values file, DRIFTLESS_VAR_token or a SOPS file)") in out
    assert "valid: 1 stack, 1 resources (3 secrets not given, checked with placeholders)" in out


def test_validate_json_lists_warnings_and_stays_valid(tmp_path: Path) -> None:
    code, out = _cli("validate", "-C", str(_project(tmp_path)), "--env", "prod", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["valid"] is True
    assert [w["line"] for w in doc["warnings"]] == [2, 3, 5]


def test_require_secrets_makes_them_errors(tmp_path: Path) -> None:
    root = _project(tmp_path)
    code, out = _cli("validate", "-C", str(root), "--env", "prod", "--require-secrets")
    assert code == 1 and "3 errors" in out and "warning" not in out


def test_a_missing_non_sensitive_variable_is_still_an_error(tmp_path: Path) -> None:
    code, out = _cli("validate", "-C", str(_project(tmp_path, "variables: {}\n")),
                     "--env", "prod")
    assert code == 1
    assert "variable 'domain' is required and has no value" in out and "1 error;" in out


def test_a_null_in_the_environment_file_counts_as_not_given(tmp_path: Path) -> None:
    env = "variables:\n  domain: a.org\n  token: null  # required\n"
    code, out = _cli("validate", "-C", str(_project(tmp_path, env)), "--env", "prod")
    assert code == 0, out
    assert "sensitive variable 'token' has no value" in out


def test_a_bad_value_given_for_a_secret_is_still_checked(tmp_path: Path) -> None:
    code, out = _cli("validate", "-C", str(_project(tmp_path)), "--env", "prod",
                     "--var", "port=80")
    assert code == 1 and "variable 'port': (sensitive) is below the minimum 1024" in out


def test_plan_no_secrets_is_marked_and_cannot_be_saved(tmp_path: Path) -> None:
    root = _project(tmp_path)
    code, out = _cli("plan", "-C", str(root), "--env", "prod", "--no-secrets")
    assert code == 0, out
    assert "cannot be applied" in out and "Run `driftless apply`" not in out
    assert "sensitive variable 'port' has no value for environment prod" in out
    code, out = _cli("plan", "-C", str(root), "--env", "prod", "--no-secrets", "--json")
    assert code == 0 and json.loads(out)["applicable"] is False
    code, out = _cli("plan", "-C", str(root), "--env", "prod", "--no-secrets",
                     "-out", str(tmp_path / "plan.json"))
    assert code == 1 and "cannot be saved with -out" in out
    assert not (tmp_path / "plan.json").exists()


def test_plan_without_the_flag_still_needs_every_secret(tmp_path: Path) -> None:
    code, out = _cli("plan", "-C", str(_project(tmp_path)), "--env", "prod")
    assert code == 1 and "variable 'token' is required and has no value" in out


def _documented_validates() -> list[list[str]]:
    """``driftless ... validate ...`` lines in the examples' headers."""
    commands = []
    files = sorted(REPO.glob("examples/*/driftless.yaml"))
    files += sorted(REPO.glob("examples/*/stacks/*/stack.yaml"))
    for path in files:
        for line in path.read_text().splitlines():
            text = line.lstrip("# ")
            if line.startswith("#") and text.startswith("driftless ") and " validate" in text:
                commands.append(shlex.split(text, comments=True)[1:])
    return commands


@pytest.mark.parametrize("args", _documented_validates(), ids=" ".join)
def test_documented_example_validate_commands_pass_without_secrets(
        args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, out = _cli(*args)
    assert code == 0, out
