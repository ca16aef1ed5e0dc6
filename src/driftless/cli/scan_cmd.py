"""``driftless scan``: find plaintext secrets in a repository or in git's index.

Prints one line per finding, ``path:line:col: kind (preview)``, never the
secret itself, and exits 1 when anything is found, so it works as a CI step
and as a pre-commit hook (``driftless scan --staged``). Reads files; runs git.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftless.cli.output import err_console, guard, print_json
from driftless.cli.plain import escape
from driftless.errors import ConfigError

if TYPE_CHECKING:
    from driftless.secrets.scan import ScanReport

__all__ = ["register"]


def scan(
    path: Annotated[Path, typer.Argument(help="A directory or file to scan.")] = Path("."),
    staged: Annotated[bool, typer.Option(
        "--staged", help="Scan what is staged for the next commit (for a pre-commit hook).")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
    = False,
) -> None:
    """Find plaintext secrets: token formats, and values in sensitive variables' places.

    Example: driftless scan   |   driftless scan --staged   (exit 1 when anything is found)

    Allow one line with a `# driftless:allow-secret` comment, whole files with globs
    in .driftless-scan-ignore.
    """
    with guard("nothing was scanned"):
        report = _run(path, staged=staged)
    if as_json:
        print_json(report.to_json())
    else:
        _print(report)
    if report.findings:
        raise typer.Exit(1)


def _run(path: Path, *, staged: bool) -> ScanReport:
    """Scan the index, a directory or one file; paths shown relative to the cwd, so
    editors and terminals can jump to them."""
    from driftless.secrets.scan import scan_staged, scan_tree  # only when scanning

    if staged:
        return scan_staged(path if path.is_dir() else path.parent, show=os.path.relpath)
    if path.is_dir():
        return scan_tree(path, show=os.path.relpath)
    if path.is_file():
        return scan_tree(path.parent, only=[path.name], show=os.path.relpath)
    raise ConfigError(f"{path}: no such file or directory")


def _print(report: ScanReport) -> None:
    for finding in report.findings:  # plain text: no markup or emoji codes from a path
        typer.echo(str(finding))
    for note in report.notes:
        err_console.print(f"note: {escape(note)}", emoji=False)
    n, files = len(report.findings), report.files
    where = f"{files} file{'s' if files != 1 else ''}"
    if n:
        err_console.print(f"{n} plaintext secret{'s' if n != 1 else ''} found in {where}; "
                          "remove and rotate them, encrypt them with SOPS, or mark a false "
                          "positive with '# driftless:allow-secret'")
    else:
        err_console.print(f"no plaintext secrets in {where}")


def register(app: typer.Typer) -> None:
    """Add ``scan`` to ``app``."""
    app.command("scan")(scan)
