"""The fast path: plan, apply and destroy without typer, exactly as typer runs them.

Its option tables are held to the typer commands' parameters; a command line
it takes is parsed to the same values typer gives; it runs without importing
typer, click or rich; and it prints and exits as the typer command line does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import typer
from typer.testing import CliRunner

from cli_helpers import CLI, files, write_project
from driftless.cli import fast, verbs
from driftless.cli.application import build_app

COMMANDS = sorted(fast.FAST_OPTIONS)


def _click_command(command: str) -> Any:
    return typer.main.get_command(build_app(command))


def _table(params: list[Any]) -> dict[str, fast.Opt]:
    """The option table a list of typer parameters amounts to."""
    table = {}
    for p in params:
        if p.param_type_name != "option":
            continue
        annotation = p.type_descriptor.annotation
        is_path = Path in (annotation, *get_args(annotation))
        kind = None if p.is_flag else ("path" if is_path else "str")
        for name in p.opts:
            table[name] = fast.Opt(p.name, kind, p.multiple, flag=True)
        for name in p.secondary_opts:
            table[name] = fast.Opt(p.name, kind, p.multiple, flag=False)
        assert p.envvar is None and not p.is_eager and p.callback is None
    return table


@pytest.mark.parametrize("command", COMMANDS)
def test_fast_options_are_the_typer_commands_options(command: str) -> None:
    params = _click_command(command).commands[command].params
    assert _table(params) == fast.FAST_OPTIONS[command]
    options = [p for p in params if p.param_type_name == "option"]
    assert {p.name: p.default for p in options} == fast.DEFAULTS[command]
    # the arguments (apply's saved plan) are left to typer: the fast path takes none
    arguments = [p.name for p in params if p.param_type_name == "argument"]
    assert arguments == (["plan_file"] if command == "apply" else [])


def test_fast_root_options_are_the_root_options() -> None:
    params = [p for p in _click_command("plan").params if p.name not in ("version", "help")]
    assert _table(params) == fast.ROOT_OPTIONS


ARGVS = [
    ["plan"],
    ["-C", "d", "plan", "--env", "prod", "--var", "a=1", "--var=b=2", "--var-file", "v.yaml",
     "-s", "web", "--stack", "db", "--json"],
    ["--directory=d", "--allow-read", "r", "--allow-read", "s", "--limit", "instances=5",
     "--allow-secret-files", "sec", "--secret-env", "P*", "--allow-secret-commands", "plan",
     "-C", "p", "-e", "stage", "-out", "plan.json", "--destroy", "--no-refresh",
     "--detailed-exitcode", "--no-secrets", "--adopt", "--format", "json", "--checks", "c.py",
     "--checks=d.py", "--changed-since", "HEAD~1"],
    ["plan", "--no-refresh", "--refresh", "--env", "a", "--env", "b", "--out=x.json",
     "--format=text"],
    ["apply", "--auto-approve", "--break-glass", "--reason", "outage", "--adopt", "--json"],
    ["apply", "--auto-approve", "--var", "x=-1", "--directory", "d"],
    ["destroy", "--auto-approve", "-C", "d", "--stack", "a", "--reason=why", "--break-glass"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=range(len(ARGVS)))
def test_fast_parse_gives_what_typer_gives(argv: list[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    command = next(a for a in argv if a in fast.FAST_OPTIONS)

    def body(**params: Any) -> None:
        seen["params"] = params

    def root(**options: Any) -> None:
        seen["root"] = options

    monkeypatch.setattr(verbs, command, body)
    monkeypatch.setattr("driftless.cli.application.use_root_options", root)
    result = CliRunner().invoke(build_app(command), argv)
    assert result.exit_code == 0, result.output
    parsed = fast.parse(argv)
    assert parsed is not None and parsed.command == command
    params = dict(seen["params"])
    params.pop("plan_file", None)  # apply's argument: never given on the fast path
    assert parsed.params == params
    r = parsed.root
    assert seen["root"] == {
        "directory": r["directory"], "allow_read": r["allow_read"] or [],
        "limits": r["limit"] or [], "secret_file_dirs": r["secret_file_dir"] or [],
        "secret_env": r["secret_env"], "secret_commands": r["secret_commands"]}


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["plan", "--help"], ["--version", "plan"], ["plan", "--nope"],
    ["plan", "--env"], ["plan", "--json=1"], ["plan", "--env", ""], ["plan", "--env", "-x"],
    ["plan", "--format", "markdown"], ["plan", "--format", "yaml"], ["plan", "--", "x"],
    ["apply", "plan.json", "--auto-approve"], ["validate"], ["state", "list"],
    ["--allow-read", "plan"], ["plan", "-out=x"], ["plan", "-Cdir"], ["plna"],
    ["--json", "plan"], ["plan", "--directory=-x"],
], ids=str)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert fast.parse(argv) is None


def test_an_apply_that_would_ask_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast, "_stdin_is_terminal", lambda: True)
    assert fast.parse(["apply"]) is None and fast.parse(["destroy"]) is None
    assert fast.parse(["apply", "--auto-approve"]) is not None
    assert fast.parse(["plan"]) is not None


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("CI", None)
    return env


_PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
from driftless.cli import main
sys.argv = ["driftless", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("args", [["plan"], ["plan", "--json"], ["apply", "--auto-approve"],
                                  ["destroy", "--auto-approve"]], ids=" ".join)
def test_ordinary_runs_import_neither_typer_nor_rich(tmp_path: Path, args: list[str]) -> None:
    write_project(tmp_path, files(tmp_path, 2))
    proc = subprocess.run([sys.executable, "-c", _PROBE, "-C", str(tmp_path), *args],
                          capture_output=True, text=True, env=_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    modules = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "driftless.cli.verbs" in modules
    loaded = {m.split(".")[0] for m in modules}
    assert loaded & {"typer", "click", "rich"} == set()


def test_help_still_goes_through_typer(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE, "plan", "--help"],
                          capture_output=True, text=True, env=_env())
    assert proc.returncode == 0
    assert "typer" in set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "--detailed-exitcode" in proc.stdout


# the typer command line alone, naming the program as click does for ``python -m driftless``
_TYPER = """
import sys
from driftless.cli.application import build_app, command_of
build_app(command_of(sys.argv[1:]))(args=sys.argv[1:], prog_name="python -m driftless")
"""


def _both(root: Path, *args: str) -> tuple[Any, Any]:
    """The same command line run by the fast path and by typer, each on the project
    as it was (the same path: digests include it)."""
    before = root.parent / (root.name + "-before")
    shutil.rmtree(before, ignore_errors=True)
    shutil.copytree(root, before, symlinks=True)
    runs = []
    for code in (None, _TYPER):
        if code is not None:  # the project as the fast run found it
            after = root.parent / (root.name + "-after")
            shutil.rmtree(after, ignore_errors=True)
            root.rename(after)
            shutil.copytree(before, root, symlinks=True)
        cmd = [*CLI] if code is None else [sys.executable, "-c", code]
        runs.append(subprocess.run([*cmd, *args], capture_output=True, text=True, env=_env(),
                                   cwd=root, stdin=subprocess.DEVNULL))
    return runs[0], runs[1]


_VARYING = re.compile(r'"lineage": "[0-9a-f]+"|": \d+\.\d+')  # a fresh lineage, timings


def _same(fast_run: Any, typer_run: Any) -> None:
    def seen(run: Any) -> tuple[int, str, str]:
        return run.returncode, _VARYING.sub("V", run.stdout), _VARYING.sub("V", run.stderr)

    assert seen(fast_run) == seen(typer_run)


@pytest.mark.parametrize("args", [
    ["plan"], ["plan", "--json"], ["plan", "--detailed-exitcode"], ["plan", "--format", "json"],
    ["plan", "--var", "nonsense"], ["plan", "--env", "nope"], ["plan", "--no-refresh", "--destroy"],
    ["plan", "--stack", "nope"], ["plan", "-out", "saved.json"], ["apply"],
    ["apply", "--auto-approve"], ["apply", "--auto-approve", "--json"],
    ["destroy", "--auto-approve"], ["--limit", "instances=0", "plan"], ["-C", "nowhere", "plan"],
], ids=" ".join)
def test_fast_path_prints_and_exits_as_typer_does(tmp_path: Path, args: list[str]) -> None:
    root = tmp_path / "p"
    root.mkdir()
    resources = files(root, 3)
    resources["f1"]["properties"]["content"] = "x:smile: [bold]y[/] \\[z\\]\tend\\"
    resources["f2"]["properties"]["content"] = "line\nhttp://host:80/ 12:30:00\n"
    write_project(root, resources)
    fast_run, typer_run = _both(root, *args)
    _same(fast_run, typer_run)


def test_an_apply_then_plan_match_too(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    resources = files(root, 2)
    write_project(root, resources)
    fast_run, typer_run = _both(root, "apply", "--auto-approve")
    _same(fast_run, typer_run)
    (root / "out" / "f0.txt").write_text("drifted\n")
    fast_run, typer_run = _both(root, "plan", "--detailed-exitcode")
    assert fast_run.returncode == 2
    _same(fast_run, typer_run)


def test_a_plan_to_a_file_from_a_terminal_imports_no_rich(tmp_path: Path) -> None:
    """stderr is a terminal, stdout a file: nothing goes to stderr, so rich is not needed."""
    import pty

    write_project(tmp_path, files(tmp_path, 2))
    main, terminal = pty.openpty()
    env = {k: v for k, v in _env().items() if k != "NO_COLOR"}
    try:
        probe = _PROBE.replace(", file=sys.stderr", "")  # the modules after the plan
        proc = subprocess.run([sys.executable, "-c", probe, "-C", str(tmp_path), "plan"],
                              stdout=subprocess.PIPE, stderr=terminal, text=True, env=env,
                              stdin=subprocess.DEVNULL)
    finally:
        os.close(terminal)
        os.close(main)
    assert proc.returncode == 0
    *plan_text, modules = proc.stdout.strip().splitlines()
    assert "local:file/f0" in "\n".join(plan_text)
    assert "\x1b[" not in "\n".join(plan_text)
    assert {m.split(".")[0] for m in json.loads(modules)} & {"typer", "click", "rich"} == set()
