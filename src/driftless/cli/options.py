"""Options shared by every project command, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["DirOpt", "EnvOpt", "JsonOpt", "StackOpt", "VarFileOpt", "VarOpt"]

DirOpt = Annotated[
    Path | None,
    typer.Option("-C", "--directory", metavar="DIR",
                 help="Project directory (default: found from the cwd)."),
]
EnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", metavar="NAME",
                 help="Environment (values + overlays), e.g. prod."),
]
VarOpt = Annotated[
    list[str] | None, typer.Option("--var", metavar="NAME=VALUE",
                                   help="Set a variable (repeatable)."),
]
VarFileOpt = Annotated[
    list[Path] | None, typer.Option("--var-file", metavar="FILE",
                                    help="A YAML file of variable values (repeatable)."),
]
StackOpt = Annotated[
    list[str] | None, typer.Option("--stack", "-s", metavar="NAME",
                                   help="Only this stack and what it depends on (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
