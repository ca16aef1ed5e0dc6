"""Options shared by every project command, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["DirOpt", "EnvOpt", "JsonOpt", "StackOpt", "VarFileOpt", "VarOpt"]

DirOpt = Annotated[
    Path | None,
    typer.Option("-C", "--directory", help="Project directory (default: found from the cwd)."),
]
EnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment (values + overlays), e.g. prod."),
]
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", help="Set a variable: --var name=value (repeatable)."),
]
VarFileOpt = Annotated[
    list[Path] | None, typer.Option("--var-file", help="A YAML file of variable values."),
]
StackOpt = Annotated[
    list[str] | None, typer.Option("--stack", "-s", help="Only this stack (and its deps)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
