"""Start-up: --version, which command group a run builds, what a plan imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import driftless
from cli_helpers import CLI, files, run, write_project
from driftless.cli.application import GROUPS, MODULES, build_app, command_of, full_app
from driftless.providers.local import KIND_MODULES, LocalProvider


def _top_level_names(app: typer.Typer) -> set[str]:
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    return names | {g.name or "" for g in app.registered_groups}


def test_version_prints_the_package_version() -> None:
    proc = subprocess.run([*CLI, "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout == f"driftless {driftless.__version__}\n"


def test_version_imports_nothing_of_driftless_but_its_version() -> None:
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
             "sys.argv = ['driftless', '--version']\n"
             "from driftless.cli import script\n"
             "script()\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"driftless {driftless.__version__}\n"
    modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert [m for m in modules if m.startswith("driftless")] == ["driftless", "driftless.cli"]


def test_version_after_root_options_goes_through_typer(tmp_path: Path) -> None:
    proc = run(tmp_path, "--version", check=True)  # run adds -C DIR first
    assert proc.stdout == f"driftless {driftless.__version__}\n"


def test_groups_name_every_top_level_command() -> None:
    assert set(GROUPS) == _top_level_names(full_app())
    assert {m for ms in GROUPS.values() for m in ms} == set(MODULES)


@pytest.mark.parametrize("command", sorted(GROUPS))
def test_the_app_built_for_a_command_has_it(command: str) -> None:
    assert command in _top_level_names(build_app(command))


def test_state_group_keeps_migrate_once_however_often_built() -> None:
    for _ in range(3):
        build_app("state")
    from driftless.cli.state_cmd import state_app

    names = [c.name for c in state_app.registered_commands]
    assert names.count("migrate") == 1


@pytest.mark.parametrize(("argv", "command"), [
    (["plan"], "plan"),
    (["-C", "plan", "apply"], "apply"),
    (["--directory", "x", "--allow-read", "y", "--limit", "a=1", "state", "list"], "state"),
    (["--allow-secret-commands", "validate"], "validate"),
    (["--allow-secret-files", "d", "--secret-env", "P*", "scan"], "scan"),
    (["--help"], None),
    ([], None),
], ids=["plain", "chdir-named-like-a-command", "value-options", "flag", "secret-options",
        "help", "none"])
def test_command_of_skips_root_options_and_their_values(argv: list[str],
                                                        command: str | None) -> None:
    assert command_of(argv) == command


def test_unknown_command_still_lists_every_command(tmp_path: Path) -> None:
    proc = run(tmp_path, "plna")
    assert proc.returncode == 2
    assert "No such command" in proc.stderr and "plna" in proc.stderr


def test_a_local_file_plan_imports_neither_agent_nor_http_nor_templates(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 2))
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
             "from driftless.cli import main\n"
             f"sys.argv = ['driftless', '-C', {str(tmp_path)!r}, 'plan']\n"
             "main()\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "local:file/f0" in proc.stdout
    modules = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert "driftless.providers.local.files" in modules
    unwanted = {"httpx", "jinja2", "driftless.agent", "driftless.workflows",
                "driftless.cli.agent_cmd", "driftless.providers.local.download",
                "driftless.providers.local.template", "driftless.providers.local.service",
                "rich.progress"}
    assert modules & unwanted == set()


def test_local_kind_table_matches_every_module_handlers() -> None:
    import importlib

    declared = {}
    for module in set(KIND_MODULES.values()):
        handlers = importlib.import_module(f"driftless.providers.local.{module}").HANDLERS
        declared.update(dict.fromkeys(handlers, module))
    assert declared == KIND_MODULES
    provider = LocalProvider()
    assert sorted(provider.kinds()) == sorted(KIND_MODULES)
    assert all(provider.kinds()[k] is provider.kinds().get(k) for k in KIND_MODULES)
    assert provider.kinds().get("nope") is None and "nope" not in provider.kinds()
