"""``driftless init``: scaffold a project a new user can plan right away.

Writes driftless.yaml, one stack with a file resource, a README line in the
stack and a .gitignore that keeps state and saved plans out of git. Refuses
to touch a directory that already holds a project, and writes nothing at all
when it refuses. I/O: creates files under the target directory only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from driftless.cli.output import console, guard
from driftless.errors import ConfigError

__all__ = ["register", "scaffold"]

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

_PROJECT = """\
# The project: its stacks, and where state is kept.
#   driftless plan                  what would change, and why
#   driftless apply --auto-approve  make it so
project: {name}
state: sqlite:///.driftless/state.db   # a team shares s3://... or postgres://... instead
stacks:
  - stacks/{stack}
"""

_STACK = """\
description: The first stack of {name}; add resources next to this one.

variables:
  out_dir:
    type: string
    default: /tmp/driftless-{name}
    description: Where this stack writes its files.
  greeting:
    type: string
    default: Hello from {name}

resources:
  hello:
    type: local:file
    properties:
      path: ${{var.out_dir}}/hello.txt
      content: "${{var.greeting}}\\n"
      make_parents: true

outputs:
  hello_path: ${{hello.path}}
"""

_GITIGNORE = """\
# driftless: local state, agent data and saved plans stay out of git
.driftless/
.driftless-agent/
*.plan.json
plan.json
"""


def scaffold(root: Path, *, name: str, stack: str = "app") -> list[Path]:
    """Write the project files under ``root``; returns them. Nothing is written
    when ``root`` already holds a project or a file the scaffold would replace."""
    for value, what in ((name, "project name"), (stack, "stack name")):
        if not _NAME.match(value):
            raise ConfigError(f"'{value}' is not a valid {what}",
                              hint="use lower-case letters, digits and '-', starting "
                                   "with a letter (e.g. my-app)")
    files = {
        root / "driftless.yaml": _PROJECT.format(name=name, stack=stack),
        root / "stacks" / stack / "stack.yaml": _STACK.format(name=name),
    }
    taken = [p for p in files if p.exists()]
    if taken:
        raise ConfigError(f"{taken[0]} already exists; nothing was written",
                          hint="run init in an empty directory, or edit the project there")
    ignore = root / ".gitignore"
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _extend_gitignore(ignore)
    return [*files, ignore]


def _extend_gitignore(path: Path) -> None:
    """Add the lines driftless needs to an existing .gitignore, or create it."""
    have = path.read_text().splitlines() if path.exists() else []
    missing = [line for line in _GITIGNORE.splitlines()
               if line and not line.startswith("#") and line not in have]
    if not have:
        path.write_text(_GITIGNORE)
    elif missing:
        sep = "" if path.read_text().endswith("\n") else "\n"
        path.write_text(path.read_text() + sep + "\n".join(["# driftless", *missing]) + "\n")


def init(
    directory: Annotated[Path, typer.Argument(
        help="Where to create the project (created if missing).", metavar="PATH")] = Path("."),
    name: Annotated[str | None, typer.Option(
        "--name", help="Project name (default: the directory's name).", metavar="NAME")] = None,
    stack: Annotated[str, typer.Option(
        "--stack", help="Name of the first stack.", metavar="NAME")] = "app",
) -> None:
    """Create a new project: driftless.yaml, one stack and a .gitignore.

    Example: driftless init my-app && cd my-app && driftless plan
    """
    with guard("nothing was written"):
        root = directory.resolve()
        project = name or _default_name(root)
        written = scaffold(root, name=project, stack=stack)
    for path in written:
        console.print(f"created {path.relative_to(root)}")
    where = "" if root == Path.cwd() else f" -C {directory}"
    console.print(f"\nNext: driftless{where} plan   (then: driftless{where} apply)")


def _default_name(root: Path) -> str:
    """The directory name made into a valid project name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-")
    return slug if slug and slug[0].isalpha() else f"project-{slug}".rstrip("-")


def register(app: typer.Typer) -> None:
    """Add ``init`` to the application."""
    app.command()(init)
