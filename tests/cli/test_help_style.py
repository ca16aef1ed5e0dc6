"""Help reads like other tools: conventional metavars, one -C, plain usage lines."""

from __future__ import annotations

import re
import subprocess

import pytest

from cli_helpers import CLI

COMMANDS = [["--help"], ["plan", "--help"], ["apply", "--help"], ["import", "--help"],
            ["init", "--help"], ["state", "list", "--help"], ["agent", "--help"],
            ["history", "--help"], ["scan", "--help"]]


def _help(args: list[str]) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "120", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_no_python_types_or_braces_in_help(args: list[str]) -> None:
    text = _help(args)
    assert not re.search(r"<(bool|str|int|path|list\[[^\]]*\]|Path)>", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage, usage


def test_common_options_show_conventional_metavars() -> None:
    text = _help(["plan", "--help"])
    for option, metavar in (("--var", "NAME=VALUE"), ("--var-file", "FILE"),
                            ("--directory", "DIR"), ("--env", "NAME")):
        assert re.search(rf"{re.escape(option)}\s.*{re.escape(metavar)}", text), option
    flag = next(line for line in text.splitlines() if "--json" in line)
    assert "BOOLEAN" not in flag and "<" not in flag


def test_minus_c_has_one_long_name_everywhere() -> None:
    for args in (["--help"], ["plan", "--help"]):
        line = next(x for x in _help(args).splitlines() if " -C " in x)
        assert "--directory" in line and "--chdir" not in line


def test_required_arguments_are_named_in_capitals() -> None:
    usage = next(x for x in _help(["import", "--help"]).splitlines() if "Usage:" in x)
    assert usage.split()[-4:] == ["import", "[OPTIONS]", "ADDRESS", "ID"], usage
