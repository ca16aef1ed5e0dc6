"""What ``plan`` adds for CI: policy checks, change detection, markdown and JSON.

Kept out of ``core`` so the plan command stays a short list of steps; the
check and CI modules are imported only when a plan runs. typer only for
what the fast path (``driftless.cli.fast``) leaves to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftless.cli.context import Context
from driftless.cli.output import console, err_console, print_json
from driftless.cli.plain import escape
from driftless.model import Plan

__all__ = ["FORMATS", "check_plans", "output_format", "select_changed", "show", "show_selection"]

FORMATS = ("text", "markdown", "json")


def output_format(fmt: str | None, as_json: bool) -> str:
    """The chosen format (``--json`` is ``--format json``)."""
    chosen = fmt or ("json" if as_json else "text")
    if chosen not in FORMATS:
        import typer  # only the typer command line gets here (the fast path checks first)

        raise typer.BadParameter(f"'{chosen}' is not one of {', '.join(FORMATS)}",
                                 param_hint="--format")
    return chosen


def select_changed(ctx: Context, revision: str, order: Sequence[str],
                   ) -> tuple[list[str], list[str]]:
    """The stacks of ``order`` to plan since ``revision``, and one reason line each."""
    import tempfile  # --changed-since only

    from driftless.ci.changes import changed_since

    with tempfile.TemporaryDirectory(prefix="driftless-base-") as scratch:
        changes = changed_since(ctx.project, revision, ctx.options, Path(scratch))
    wanted = {c.stack: c.reason for c in changes}
    chosen = [name for name in order if name in wanted]
    return chosen, [f"{name}: {wanted[name]}" for name in chosen]


def check_plans(ctx: Context, plans: Sequence[Plan], files: Sequence[Path] | None) -> Any:
    """The policy check report of these plans (a ``driftless.checks.CheckReport``)."""
    from driftless.checks import CheckConfig, load_python_rules, operator_rule_files, run_checks

    extra = load_python_rules(operator_rule_files(files))
    config = CheckConfig.from_settings(ctx.project.settings, extra=extra)
    return run_checks(plans, config)


def show(fmt: str, plans: Sequence[Plan], report: Any, reasons: Sequence[str],
         doc: dict[str, Any]) -> None:
    """Print the findings (text), the whole markdown document, or add them to ``doc``."""
    if fmt == "json":
        print_json({**doc, "checks": report.to_json(),
                    **({"selected": list(reasons)} if reasons else {})})
    elif fmt == "markdown":
        import typer  # the fast path leaves --format markdown to typer

        from driftless.ci.markdown import plans_markdown

        typer.echo(plans_markdown(plans, checks=report, reasons=reasons), nl=False)
    elif report.findings:
        for line in report.lines():
            style = "red" if line.startswith("error") else "yellow"
            err_console.print(f"[{style}]{escape(line)}[/]", emoji=False, soft_wrap=True)
        console.print(report.summary_line())


def show_selection(reasons: Sequence[str], fmt: str) -> None:
    """Why each stack is planned (text output only; the others carry it)."""
    if fmt != "text":
        return
    if not reasons:
        console.print("No stack changed: nothing to plan.")
    for line in reasons:
        console.print(f"planning {escape(line)}")
