"""The files the ssh provider ships to a host run there with the host's ``python3``,
where driftless is not installed: they may import the standard library and each
other (``_dl_*``), nothing of driftless's."""

from __future__ import annotations

import ast
import sys

import pytest

from driftless.providers.ssh import transport


@pytest.mark.parametrize("name", [name for name, _ in transport._MODULES] + ["helper"])
def test_a_shipped_file_imports_only_the_standard_library(name: str) -> None:
    source = dict(transport._MODULES).get(name, transport._HELPER)
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    foreign = {m for m in found if m not in sys.stdlib_module_names and not m.startswith("_dl_")}
    assert foreign <= {"psutil"}, f"{name} imports {sorted(foreign)}"  # psutil: only without /proc
