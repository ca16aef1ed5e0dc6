"""``driftless images``: image automation from the command line.

``images update`` asks the registries for each policy's tag, rewrites the
marked values, commits them with the bot identity and pushes (``--dry-run``
shows what would change and touches nothing); ``images tags`` lists a
repository's tags. Imports of the image package stay inside the commands.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

import typer

from driftless.cli.options import DirOpt, JsonOpt
from driftless.cli.output import console, err_console, guard, print_json
from driftless.cli.plain import escape
from driftless.errors import ConfigError

__all__ = ["register"]

images_app = typer.Typer(help="Image automation: registries, policies, setter markers.",
                         no_args_is_help=True)

RegistryConfigOpt = Annotated[Path | None, typer.Option(
    "--registry-config", metavar="FILE",
    help="Docker-style config.json with registry credentials (or DRIFTLESS_REGISTRY_CONFIG).")]


def _work_tree(root: Path) -> Path:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, check=True,
                             capture_output=True, text=True, timeout=30)
    except (subprocess.CalledProcessError, OSError):
        raise ConfigError(f"{root} is not inside a git work tree",
                          hint="image updates are commits: run it in a clone") from None
    return Path(out.stdout.strip())


@images_app.command("update")
def update(
    directory: DirOpt = None, as_json: JsonOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change.")] = False,
    push: Annotated[bool, typer.Option(help="Push the commits (--no-push: commit only).")]
    = True,
    remote: Annotated[str, typer.Option("--remote", help="The remote to push to.")] = "origin",
    registry_config: RegistryConfigOpt = None,
) -> None:
    """Set every image marker to its policy's latest tag; commit and push.

    Example: driftless images update --dry-run
    """
    from driftless.images import RegistryClient, image_settings, load_credentials, run_update
    from driftless.render import load_project

    with guard("nothing was updated"):
        project = load_project(directory)
        settings = image_settings(project.settings)
        if settings is None:
            raise ConfigError("driftless.yaml has no settings.images",
                              hint="see docs/operations/delivery.md for repositories/policies")
        client = RegistryClient(credentials=load_credentials(registry_config))
        try:
            report = run_update(_work_tree(project.root), project.root, settings, client,
                                dry_run=dry_run, remote=remote, push=push)
        finally:
            client.close()
    if as_json:
        print_json(report.to_json())
    else:
        _print(report, dry_run=dry_run)
    if report.problems and not report.updates:
        raise typer.Exit(1)


def _print(report: object, *, dry_run: bool) -> None:
    from driftless.images import UpdateReport

    assert isinstance(report, UpdateReport)
    for name, image in sorted(report.latest.items()):
        console.print(f"policy {escape(name)}: {escape(image.value(None))}")
    for problem in report.problems:
        err_console.print(f"[yellow]warning[/]: {escape(problem)}", emoji=False)
    for u in report.updates:
        where = "push to" if u.direct else "branch for review:"
        state = "would commit" if dry_run else (u.commit[:12] if u.commit else u.note)
        console.print(f"{where} {escape(u.branch)}  ({escape(state)})")
        for c in u.changes:
            console.print(f"  {escape(c.file)}:{c.line}  {escape(c.old)} → {escape(c.new)}")
    if not report.updates:
        console.print("every marker is up to date.")


@images_app.command("tags")
def tags(
    image: Annotated[str, typer.Argument(help="An image repository, e.g. ghcr.io/acme/api.")],
    registry_config: RegistryConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """List a repository's tags (the registry's /v2/<name>/tags/list, every page).

    Example: driftless images tags 127.0.0.1:5000/shop/api
    """
    from driftless.images import RegistryClient, load_credentials

    with guard("nothing was listed"):
        client = RegistryClient(credentials=load_credentials(registry_config))
        try:
            found = client.tags(image)
        finally:
            client.close()
    if as_json:
        print_json({"image": image, "tags": found})
    else:
        for tag in found:
            console.print(escape(tag))


def register(app: typer.Typer) -> None:
    """Add the ``images`` group to the application."""
    app.add_typer(images_app, name="images")
