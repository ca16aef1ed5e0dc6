"""External secret references: ``${secret.env:…}``, ``${secret.file:…}``, ``${secret.cmd:…}``.

The reference is written in untrusted Git; what it may reach is the
operator's ``Policy``. Each kind works when allowed, is refused (with the
position and the operator's flag) when not, is read before nothing else is
touched, is resolved once per render, and never shows up in render or plan
output, or in the state database after apply.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run, write_project
from driftless.errors import RenderError
from driftless.model import Sensitive, contains_unknown, resolve, reveal
from driftless.model.policy import Policy
from driftless.render import RenderOptions, load_project, render_stack, secret_refs
from driftless.render.expr import Lit, SecretRef, parse_template
from driftless.state.packed import inflate_all

ENV_SECRET = "ENV-SECRET-4b1d"
FILE_SECRET = "FILE-SECRET-9c2e"
CMD_SECRET = "CMD-SECRET-77aa"


def _project(root: Path, content: str, *, count: int | None = None) -> Path:
    """A project whose resource ``f`` has ``content`` (single-quoted YAML).

    Without ``count`` the value's first character is at line 6, column 19.
    """
    (root / "stacks/app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: t\nstacks: [stacks/app]\n")
    repeat = f"    count: {count}\n" if count is not None else ""
    (root / "stacks/app/stack.yaml").write_text(
        "resources:\n  f:\n    type: local:file\n" + repeat
        + "    properties:\n      path: /tmp/x\n"
        + "      content: '" + content.replace("'", "''") + "'\n")
    return root


def _render(root: Path, policy: Policy | None = None) -> tuple[list[Any], list[str]]:
    """The rendered ``content`` of every instance, and the problems (with position and hint)."""
    project = load_project(root, policy=policy or Policy())
    try:
        desired = render_stack(project, "app", RenderOptions(environ={}))
    except RenderError as exc:
        return [], [f"{p} [{p.hint}]" for p in exc.problems]
    return [r.properties["content"] for r in desired.resources], []


def _one_value(root: Path, policy: Policy | None = None) -> Any:
    values, problems = _render(root, policy)
    assert problems == []
    assert len(values) == 1
    return values[0]


def _one_problem(root: Path, policy: Policy | None = None) -> str:
    values, problems = _render(root, policy)
    assert values == [] and len(problems) == 1, problems
    return problems[0]


def _secret_dir(tmp_path: Path, name: str = "secret.txt", data: bytes | None = None) -> Path:
    """An operator's secret directory (outside the project) holding one file."""
    d = tmp_path / "run-secrets"
    d.mkdir()
    (d / name).write_bytes(FILE_SECRET.encode() + b"\n" if data is None else data)
    return d


# --- syntax ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kind", "arg"), [
    pytest.param("${secret.env:TOKEN}", "env", "TOKEN", id="env"),
    pytest.param("${ secret.file:/run/secrets/db password }", "file", "/run/secrets/db password",
                 id="file-with-space"),
    pytest.param('${secret.cmd:sh -c "echo {a}; echo b:c"}', "cmd",
                 'sh -c "echo {a}; echo b:c"', id="cmd-braces-colon-quotes"),
    pytest.param("${secret.vault:kv/x}", "vault", "kv/x", id="unknown-kind-parses"),
])
def test_a_secret_reference_takes_everything_up_to_the_closing_brace(
        text: str, kind: str, arg: str) -> None:
    node = parse_template(text).single
    assert isinstance(node, SecretRef)
    assert (node.kind, node.arg) == (kind, arg)
    assert node.offset == text.index("secret")


def test_a_secret_reference_mixes_with_text_and_escapes() -> None:
    tpl = parse_template("Bearer ${secret.env:T} and $${secret.env:T}")
    assert tpl.parts[0] == "Bearer "
    assert isinstance(tpl.parts[1], SecretRef)
    assert tpl.parts[2] == " and ${secret.env:T}"
    assert parse_template('${"secret.env:T"}').single == Lit("secret.env:T")


def test_an_empty_argument_is_a_syntax_error(tmp_path: Path) -> None:
    problem = _one_problem(_project(tmp_path, "${secret.env:  }"))
    assert "invalid expression: 'secret.env:' needs something after ':'" in problem


def test_an_unknown_kind_suggests_the_closest(tmp_path: Path) -> None:
    problem = _one_problem(_project(tmp_path, "${secret.evn:TOKEN}"))
    assert problem.startswith("stacks/app/stack.yaml:6:19: unknown secret reference "
                              "'secret.evn:'")
    assert "did you mean 'env'?" in problem


def test_a_reference_without_colon_says_how_to_write_one(tmp_path: Path) -> None:
    problem = _one_problem(_project(tmp_path, "${secret.env.TOKEN}"))
    assert "unknown reference 'secret.env.TOKEN'" in problem
    assert "secret.env:NAME, secret.file:/PATH or secret.cmd:COMMAND" in problem


# --- secret.env ---------------------------------------------------------------------------


@pytest.mark.parametrize("patterns", [
    pytest.param(None, id="any-variable-by-default"),
    pytest.param(("APP_*",), id="matching-pattern"),
])
def test_env_reads_the_variable_as_sensitive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, patterns: tuple[str, ...] | None) -> None:
    monkeypatch.setenv("APP_TOKEN", ENV_SECRET)
    value = _one_value(_project(tmp_path, "Bearer ${secret.env:APP_TOKEN}"),
                       Policy(secret_env=patterns))
    assert isinstance(value, Sensitive)
    assert reveal(value) == f"Bearer {ENV_SECRET}"
    assert ENV_SECRET not in repr(value)


def test_env_outside_the_operator_patterns_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
    problem = _one_problem(_project(tmp_path, "${secret.env:AWS_SECRET_ACCESS_KEY}"),
                           Policy(secret_env=("APP_*",)))
    assert problem.startswith("stacks/app/stack.yaml:6:19: secret.env: the operator does not "
                              "allow reading environment variable AWS_SECRET_ACCESS_KEY")
    assert "--secret-env PATTERN" in problem and "DRIFTLESS_SECRET_ENV" in problem
    assert ENV_SECRET not in problem


def test_env_not_set_is_an_error_at_its_position(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_MISSING", raising=False)
    problem = _one_problem(_project(tmp_path, "x ${secret.env:APP_MISSING}"))
    assert problem.startswith("stacks/app/stack.yaml:6:21: secret.env: environment variable "
                              "APP_MISSING is not set")


# --- secret.file --------------------------------------------------------------------------


def test_file_inside_an_operator_root_is_read_without_its_last_newline(tmp_path: Path) -> None:
    d = _secret_dir(tmp_path, data=FILE_SECRET.encode() + b"\n\n")
    value = _one_value(_project(tmp_path / "p", f"${{secret.file:{d}/secret.txt}}"),
                       Policy().widened(secret_roots=[d]))
    assert isinstance(value, Sensitive)
    assert reveal(value) == FILE_SECRET + "\n"


def test_file_without_an_operator_root_is_refused_naming_the_flag(tmp_path: Path) -> None:
    d = _secret_dir(tmp_path)
    problem = _one_problem(_project(tmp_path / "p", f"${{secret.file:{d}/secret.txt}}"))
    assert problem.startswith("stacks/app/stack.yaml:6:19: secret.file: ")
    assert "is not inside a directory the operator allows secret files to be read from" in problem
    for flag in ("--allow-secret-files DIR", "DRIFTLESS_SECRET_FILES", "secrets: {files:"):
        assert flag in problem
    assert FILE_SECRET not in problem


def test_file_inside_the_project_is_refused_unless_listed(tmp_path: Path) -> None:
    root = _project(tmp_path, "${secret.file:" + str(tmp_path / "key.txt") + "}")
    (root / "key.txt").write_text(FILE_SECRET)
    assert "is not inside a directory the operator allows" in _one_problem(root)
    assert reveal(_one_value(root, Policy().widened(secret_roots=[root]))) == FILE_SECRET


def test_file_symlink_leading_outside_the_root_is_refused(tmp_path: Path) -> None:
    d = _secret_dir(tmp_path)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text(FILE_SECRET)
    (d / "link").symlink_to(elsewhere)
    problem = _one_problem(_project(tmp_path / "p", f"${{secret.file:{d}/link}}"),
                           Policy().widened(secret_roots=[d]))
    assert "is not inside a directory the operator allows" in problem
    assert "elsewhere" not in problem


def test_file_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    d = _secret_dir(tmp_path)
    os.mkfifo(d / "pipe")
    started = time.monotonic()
    problem = _one_problem(_project(tmp_path / "p", f"${{secret.file:{d}/pipe}}"),
                           Policy().widened(secret_roots=[d]))
    assert "is not a regular file; only regular files can be read" in problem
    assert time.monotonic() - started < 5


def test_file_over_string_bytes_is_refused_naming_the_limit(tmp_path: Path) -> None:
    d = _secret_dir(tmp_path, data=b"x" * 100)
    problem = _one_problem(_project(tmp_path / "p", f"${{secret.file:{d}/secret.txt}}"),
                           Policy().widened(secret_roots=[d], limits={"string_bytes": 64}))
    assert "has 100 bytes, over the limit string_bytes (64)" in problem
    assert "--limit string_bytes=N" in problem


def test_file_relative_path_is_refused(tmp_path: Path) -> None:
    problem = _one_problem(_project(tmp_path, "${secret.file:secrets/db}"))
    assert "secret.file: 'secrets/db' is not an absolute path" in problem


# --- secret.cmd ---------------------------------------------------------------------------


def _cmd(marker: Path, output: str = CMD_SECRET, extra: str = "") -> str:
    """A command reference that appends to ``marker`` each time it runs."""
    return f'${{secret.cmd:sh -c "echo run >> {marker}; {extra}echo {output}"}}'


def test_cmd_without_the_operator_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    problem = _one_problem(_project(tmp_path / "p", _cmd(marker)))
    assert problem.startswith("stacks/app/stack.yaml:6:19: secret.cmd: 'sh' was not run: the "
                              "operator has not allowed secret commands")
    for flag in ("--allow-secret-commands", "DRIFTLESS_SECRET_COMMANDS=1",
                 "secrets: {commands: true}"):
        assert flag in problem
    assert not marker.exists()


def test_cmd_runs_once_per_render_even_with_count_50(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    root = _project(tmp_path / "p", "a ${secret.cmd:echo one} " + _cmd(marker), count=50)
    values, problems = _render(root, Policy(secret_commands=True))
    assert problems == []
    assert len(values) == 50
    assert all(isinstance(v, Sensitive) and reveal(v) == f"a one {CMD_SECRET}" for v in values)
    assert marker.read_text() == "run\n"


def test_cmd_failure_quotes_only_the_masked_last_line_of_stderr(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    fail = f"echo {CMD_SECRET}; echo first >&2; echo leaked {CMD_SECRET} >&2; exit 3; "
    problem = _one_problem(_project(tmp_path / "p", _cmd(marker, extra=fail)),
                           Policy(secret_commands=True))
    assert "secret.cmd: 'sh' exited with status 3: leaked (sensitive)" in problem
    assert CMD_SECRET not in problem and "first" not in problem


def test_cmd_output_over_string_bytes_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, "${secret.cmd:sh -c 'yes | head -c 100000'}")
    problem = _one_problem(root, Policy(secret_commands=True).widened(
        limits={"string_bytes": 1000}))
    assert "secret.cmd: the output of 'sh' is over the limit string_bytes (1000)" in problem


def test_cmd_that_does_not_finish_is_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secret_refs, "COMMAND_TIMEOUT", 0.5)
    started = time.monotonic()
    problem = _one_problem(_project(tmp_path, "${secret.cmd:sleep 30}"),
                           Policy(secret_commands=True))
    assert "secret.cmd: 'sleep' did not finish within 0.5 seconds" in problem
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(("line", "message"), [
    pytest.param("no-such-command-x9", "command 'no-such-command-x9' not found", id="not-found"),
    pytest.param("sh -c 'unclosed", "cannot split the command: no closing quotation",
                 id="bad-quotes"),
])
def test_cmd_that_cannot_run_is_an_error(tmp_path: Path, line: str, message: str) -> None:
    problem = _one_problem(_project(tmp_path, "${secret.cmd:" + line + "}"),
                           Policy(secret_commands=True))
    assert message in problem


def test_cmd_next_to_a_resource_reference_still_runs_once(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    root = _project(tmp_path / "p", "${db.path} " + _cmd(marker), count=5)
    with (root / "stacks/app/stack.yaml").open("a") as f:
        f.write("  db:\n    type: local:file\n    properties: {path: /tmp/db}\n")
    project = load_project(root, policy=Policy(secret_commands=True))
    desired = render_stack(project, "app", RenderOptions(environ={}))
    deferred = [r.properties["content"] for r in desired.resources if r.id.name == "f"]
    values = [resolve(v, lambda _rid: {"path": "/srv/db"}) for v in deferred]
    assert [reveal(v) for v in values] == [f"/srv/db {CMD_SECRET}"] * 5
    assert all(isinstance(v, Sensitive) for v in values)
    assert marker.read_text() == "run\n"


@pytest.mark.parametrize("content", [
    pytest.param("${secret.env:APP_TOKEN}", id="plain"),
    pytest.param("${db.path} ${secret.env:APP_TOKEN}", id="deferred"),
])
def test_a_changed_secret_changes_the_render_digest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    root = _project(tmp_path, content)
    with (root / "stacks/app/stack.yaml").open("a") as f:
        f.write("  db:\n    type: local:file\n    properties: {path: /tmp/db}\n")
    digests = []
    for value in ("one-secret", "two-secret", "two-secret"):
        monkeypatch.setenv("APP_TOKEN", value)
        project = load_project(root, policy=Policy())
        digests.append(render_stack(project, "app", RenderOptions(environ={})).digest)
    assert digests[0] != digests[1] == digests[2]
    assert not any("secret" in d for d in digests)


# --- through the CLI: nothing shows, nothing is stored ------------------------------------


def _cli_project(tmp_path: Path, marker: Path) -> tuple[Path, Path]:
    """A project using all three kinds, and the operator's secret directory."""
    d = _secret_dir(tmp_path)
    root = tmp_path / "p"
    contents = {"env": "e=${secret.env:APP_TOKEN}", "file": f"f=${{secret.file:{d}/secret.txt}}",
                "cmd": "c=" + _cmd(marker)}
    write_project(root, {name: {"type": "local:file", "properties": {
        "path": str(tmp_path / "out" / f"{name}.txt"), "content": content, "make_parents": True}}
        for name, content in contents.items()})
    return root, d


def test_cli_render_plan_and_state_never_hold_the_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_TOKEN", ENV_SECRET)
    marker = tmp_path / "marker"
    root, d = _cli_project(tmp_path, marker)
    flags = ("--allow-secret-files", str(d), "--allow-secret-commands")
    outputs = [run(root, *flags, *cmd, check=True) for cmd in
               (("render",), ("render", "--json"), ("plan",), ("apply", "--auto-approve"))]
    written = {p.stem: p.read_text() for p in (tmp_path / "out").iterdir()}
    assert written == {"env": f"e={ENV_SECRET}", "file": f"f={FILE_SECRET}",
                       "cmd": f"c={CMD_SECRET}"}
    assert marker.read_text() == "run\n" * 4  # once per command: render, render, plan, apply
    raw = (root / ".driftless" / "state.db").read_bytes()
    state = raw + b"\n" + inflate_all(raw)  # rows are stored deflated: scan them inflated
    for secret in (ENV_SECRET, FILE_SECRET, CMD_SECRET):
        assert secret.encode() not in state
        for proc in outputs:
            assert secret not in proc.stdout + proc.stderr
    assert "(sensitive)" in outputs[0].stdout


def test_cli_refuses_without_the_operator_flags(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_TOKEN", ENV_SECRET)
    for name in ("DRIFTLESS_SECRET_FILES", "DRIFTLESS_SECRET_COMMANDS", "DRIFTLESS_SECRET_ENV"):
        monkeypatch.delenv(name, raising=False)
    marker = tmp_path / "marker"
    root, _ = _cli_project(tmp_path, marker)
    proc = run(root, "plan")
    assert proc.returncode == 1
    text = proc.stdout + proc.stderr
    assert "--allow-secret-files DIR" in text and "--allow-secret-commands" in text
    assert "stacks/main/stack.yaml:" in text
    assert not marker.exists()
    assert FILE_SECRET not in text and ENV_SECRET not in text


@pytest.mark.parametrize("name", ["DRIFTLESS_STATE_KEY", "SOPS_AGE_KEY", "AWS_SECRET_ACCESS_KEY"])
def test_env_refuses_the_operators_keys_unless_listed(tmp_path: Path, name: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "KEY-VALUE-123")
    root = _project(tmp_path, f"${{secret.env:{name}}}")
    problem = _one_problem(root)
    assert f"does not allow reading environment variable {name}" in problem
    assert "KEY-VALUE-123" not in problem
    assert reveal(_one_value(root, Policy().widened(secret_env=[name]))) == "KEY-VALUE-123"


def test_validate_without_secrets_checks_references_with_placeholders(tmp_path: Path) -> None:
    root = _project(tmp_path, "token=${secret.env:APP_TOKEN_NOT_SET}")
    warnings: list[Any] = []
    project = load_project(root, policy=Policy())
    options = RenderOptions(environ={}, on_missing_secret=warnings.append)
    desired = render_stack(project, "app", options)
    assert contains_unknown(desired.resources[0].properties["content"])
    assert len(warnings) == 1 and "APP_TOKEN_NOT_SET is not set" in warnings[0].message
    assert "placeholder" in warnings[0].message
    # without the option (plan, apply) the same reference is an error
    assert "APP_TOKEN_NOT_SET is not set" in _one_problem(root)


def test_cli_validate_passes_without_secrets_and_plan_does_not(tmp_path: Path) -> None:
    root = _project(tmp_path, "${secret.cmd:cat /nonexistent-secret}")
    validate = run(root, "validate")
    assert validate.returncode == 0, validate.stderr
    assert "checked with a placeholder" in validate.stderr
    assert run(root, "plan").returncode == 1
