"""How plans, results and drift look in a terminal (see UX.md)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.markup import escape

from driftless.cli.output import console
from driftless.model import Action, ApplyResult, Change, Outcome, Plan
from driftless.plan import import_command

__all__ = ["apply_progress", "change_lines", "plan_lines", "print_change", "print_plan",
           "print_results", "show_value"]

_STYLE = {
    Action.CREATE: "green", Action.UPDATE: "yellow", Action.REPLACE: "magenta",
    Action.DELETE: "red", Action.READ: "cyan", Action.NOOP: "dim",
}
_WORD = {
    Action.CREATE: "create", Action.UPDATE: "update in place", Action.REPLACE: "replace",
    Action.DELETE: "delete", Action.READ: "read", Action.NOOP: "no change",
}


def show_value(value: Any) -> str:
    """A value as one short line (JSON-ish, secrets already masked)."""
    if isinstance(value, str):
        text = json.dumps(value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def print_change(change: Change) -> None:
    """One change: symbol, address, action, why; then its field diffs."""
    _print_lines(change_lines(change))


def change_lines(change: Change) -> list[str]:
    """The markup lines of one change (see ``print_change``)."""
    if change.refused and change.unmanaged:
        lines = [_unmanaged_line(change)]
    elif change.refused:
        return [f"  [bold red]![/] {escape(str(change.id)):<40} [red]delete refused[/]"
                f"   {escape(change.reason)}"]
    else:
        lines = [_action_line(change)]
    lines.extend(_diff_lines(change))
    return lines


def _action_line(change: Change) -> str:
    style = _STYLE[change.action]
    why = f"   why: {escape(change.reason)}" if change.reason else ""
    if change.desired is not None and change.desired.protect:
        why += "   [dim](protected)[/]"
    word = _WORD[change.action]
    if change.adopt:
        word = "adopt" if change.action is Action.READ else f"adopt, then {word}"
    return (f"  [{style}]{change.action.symbol:>3}[/] {escape(str(change.id)):<40} "
            f"[{style}]{word}[/]{why}")


def _unmanaged_line(change: Change) -> str:
    """``?``: the object exists but state does not own it; say how to take it over."""
    attrs = change.prior.attributes if change.prior is not None else {}
    differs = "; differs from the configuration" if change.diffs else ""
    return (f"  [bold yellow]  ?[/] {escape(str(change.id)):<40} "
            f"[yellow]exists, not managed{differs}[/]   "
            f"({escape(import_command(change.id, attrs))}, or plan/apply with --adopt)")


def _diff_lines(change: Change) -> Iterator[str]:
    for diff in change.diffs:
        before, after = diff.shown()
        if change.action is not Action.CREATE and _is_text(before, after):
            yield f"        {escape(diff.path)}:"
            yield from _unified(before, after)
            continue
        arrow = f"{show_value(before)} → {show_value(after)}"
        if change.action is Action.CREATE:
            arrow = show_value(after)
        forced = "  [magenta](forces replacement)[/]" if diff.forces_replace else ""
        yield f"        {escape(diff.path)}: {escape(arrow)}{forced}"


def _is_text(before: Any, after: Any) -> bool:
    """Two strings of which one spans lines: shown as a unified diff, not JSON."""
    return (isinstance(before, str) and isinstance(after, str)
            and ("\n" in before.rstrip("\n") or "\n" in after.rstrip("\n")))


_DIFF_LINES = 40
"""A longer diff is cut, saying how much was left out: the plan stays readable."""


def _unified(before: str, after: str) -> Iterator[str]:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "before",
                                      "after", n=2, lineterm=""))[2:]
    for line in lines[:_DIFF_LINES]:
        style = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
        text = escape(line)
        yield f"          [{style}]{text}[/]" if style else f"          {text}"
    if len(lines) > _DIFF_LINES:
        yield f"          [dim]... {len(lines) - _DIFF_LINES} more diff lines[/]"


_BATCH = 500
"""Lines handed to rich in one ``print``: each call costs ~60 us of rich's
rendering machinery, so a 10,000-resource plan printed line by line took
2.7 s; joined lines render to the same text (every line closes its tags and
``escape`` never leaves a trailing backslash)."""


def _print_lines(lines: list[str]) -> None:
    # Not a terminal (CI logs, pipes, the agent): no styles at all, so the markup
    # is rendered to its text once and written, skipping rich's segment machinery
    # (half of the remaining time); a test holds it to rich's own output.
    plain = not console.is_terminal and console.color_system is None
    for start in range(0, len(lines), _BATCH):
        chunk = "\n".join(lines[start:start + _BATCH])
        if plain:
            _write_plain(chunk)
        else:
            console.print(chunk)


def _write_plain(markup: str) -> None:
    text = console.render_str(markup)
    if "\t" in text.plain:
        text.expand_tabs(console.tab_size)
    console.file.write(text.plain + "\n")
    console.file.flush()


def plan_lines(plan: Plan, *, header: bool = True) -> list[str]:
    """The markup lines of one stack's plan (see ``print_plan``)."""
    lines = []
    if header:
        rev = plan.revision[:7] if plan.revision else "working tree"
        lines.append(f"[bold]stack {escape(plan.stack)}[/]  (rev {rev}, "
                     f"state serial {plan.serial})")
    lines.extend(f"  [cyan]note[/]: {escape(note)}" for note in plan.notes)
    shown = [c for c in plan.changes if c.is_change or c.refused]
    if not shown:
        lines.append("  No changes. Reality matches the configuration.")
        return lines
    lines.append("")
    for change in shown:
        lines.extend(change_lines(change))
    lines.append("")
    lines.append(plan.summary_line())
    return lines


def print_plan(plan: Plan, *, header: bool = True) -> None:
    """The whole plan of one stack, as in UX.md."""
    _print_lines(plan_lines(plan, header=header))


def print_results(results: list[ApplyResult] | tuple[ApplyResult, ...]) -> None:
    """Failures and skips, each with its message (successes are counted)."""
    bad = [r for r in results if r.outcome is not Outcome.APPLIED]
    for r in bad:
        colour = "red" if r.outcome is Outcome.FAILED else "yellow"
        console.print(f"  [{colour}]{r.outcome.value}[/] {escape(str(r.id))}: "
                      f"{escape(r.message)}")
    done = [r for r in results if r.outcome is Outcome.APPLIED and r.action is not Action.NOOP]
    console.print(f"Apply: {len(done)} applied, "
                  f"{sum(r.outcome is Outcome.FAILED for r in results)} failed, "
                  f"{sum(r.outcome is Outcome.SKIPPED for r in results)} skipped.")


@contextmanager
def apply_progress(total: int, *, enabled: bool) -> Iterator[Any]:
    """A progress bar on a TTY for applies; a no-op advance function otherwise."""
    if not enabled or not console.is_terminal or total < 2:
        yield lambda _result: None
        return
    # imported here: a run without a terminal (CI, the agent, a pipe) never needs it
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("apply", total=total)
        yield lambda _result: progress.advance(task)
