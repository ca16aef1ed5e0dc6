"""How plans, results and drift look in a terminal (see UX.md).

Each line is written once, as a template over ``_Markup`` (rich console
markup: styles, values escaped) or ``_Plain`` (the same line as rich prints
it without a terminal: the raw values, no tags). A plan printed where there
is no terminal (CI logs, pipes, the agent) is the plain lines, written in
batches; a line rich would print as anything but its plain form (a value
with a tag-like bracket, a control code, an emoji code: ``plain_text``) is
rendered from its markup instead, so the text is rich's own. A test holds
both to rich.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring_ascii
from typing import Any

from driftless.cli.output import console
from driftless.cli.plain import escape, plain_text, render_plain
from driftless.model import Action, ApplyResult, Change, Outcome, Plan
from driftless.model.change import CreateDiffs
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

_ENCODE = json.JSONEncoder(sort_keys=True, default=str).encode
# ``JSONEncoder().encode`` of a str is this C function, without the Python call around it
_encode_str: Callable[[str], str] = encode_basestring_ascii
_SHOWN = 120
_CUT = 130  # a longer string is shown from its first characters only: its JSON is cut anyway


def show_value(value: Any) -> str:
    """A value as one short line (JSON-ish, secrets already masked)."""
    if isinstance(value, str):
        # JSON of a prefix is a prefix of the JSON, and is longer than what is shown
        text = _encode_str(value if len(value) <= _CUT else value[:_CUT])
    elif value is True:
        return "true"
    elif value is False:
        return "false"
    elif value is None:
        return "null"
    else:
        text = _ENCODE(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


class _Markup:
    """Lines as rich console markup."""

    esc = staticmethod(escape)

    @staticmethod
    def tag(style: str, text: str) -> str:
        return f"[{style}]{text}[/]"


class _Plain:
    """Lines as plain text (what rich prints for the markup, see ``plain_text``)."""

    # nothing to escape: the text itself (``str`` of a str is that str, and a C call
    # costs less than a function of ours, 4 per created resource of a plan)
    esc = staticmethod(str)

    @staticmethod
    def tag(style: str, text: str) -> str:
        return text


_Fmt = type[_Markup] | type[_Plain]


def print_change(change: Change) -> None:
    """One change: symbol, address, action, why; then its field diffs."""
    _print_lines(_change(change, _Plain), lambda: _change(change, _Markup))


def change_lines(change: Change) -> list[str]:
    """The markup lines of one change (see ``print_change``)."""
    return _change(change, _Markup)


def _change(change: Change, f: _Fmt) -> list[str]:
    if change.refused and change.unmanaged:
        lines = [_unmanaged_line(change, f)]
    elif change.refused:
        return [f"  {f.tag('bold red', '!')} {f.esc(str(change.id)):<40} "
                f"{f.tag('red', 'delete refused')}   {f.esc(change.reason)}"]
    else:
        lines = [_action_line(change, f)]
    if change.diffs:
        lines += _diff_lines(change, f)
    return lines


def _action_line(change: Change, f: _Fmt) -> str:
    symbol, word = _HEADS[f][change.action]
    why = f"   why: {f.esc(change.reason)}" if change.reason else ""
    if change.desired is not None and change.desired.protect:
        why += "   " + f.tag("dim", "(protected)")
    if change.adopt:
        style = _STYLE[change.action]
        word = f.tag(style, "adopt" if change.action is Action.READ
                     else f"adopt, then {_WORD[change.action]}")
    return f"  {symbol} {f.esc(str(change.id)):<40} {word}{why}"


def _heads(f: _Fmt) -> dict[Action, tuple[str, str]]:
    """Each action's symbol and word as ``f`` writes them (the same for every
    change of that action: built once, not for each of 10,000 lines)."""
    return {a: (f.tag(_STYLE[a], f"{a.symbol:>3}"), f.tag(_STYLE[a], _WORD[a])) for a in Action}


_HEADS: dict[_Fmt, dict[Action, tuple[str, str]]] = {fmt: _heads(fmt) for fmt in (_Markup, _Plain)}


def _unmanaged_line(change: Change, f: _Fmt) -> str:
    """``?``: the object exists but state does not own it; say how to take it over."""
    attrs = change.prior.attributes if change.prior is not None else {}
    differs = "; differs from the configuration" if change.diffs else ""
    return (f"  {f.tag('bold yellow', '  ?')} {f.esc(str(change.id)):<40} "
            f"{f.tag('yellow', f'exists, not managed{differs}')}   "
            f"({f.esc(import_command(change.id, attrs))}, or plan/apply with --adopt)")


def _diff_lines(change: Change, f: _Fmt) -> list[str]:
    esc = f.esc
    if change.action is Action.CREATE:  # nothing before: each new value alone
        if isinstance(change.diffs, CreateDiffs):  # the values, without making the diffs
            return [f"        {esc(path)}: {esc(show_value(value))}"
                    for path, value in change.diffs.shown()]
        return [f"        {esc(d.path)}: {esc(show_value(d.shown()[1]))}"
                f"{_FORCED[f] if d.forces_replace else ''}" for d in change.diffs]
    lines = []
    for diff in change.diffs:
        before, after = diff.shown()
        if _is_text(before, after):
            lines.append(f"        {esc(diff.path)}:")
            lines.extend(_unified(before, after, f))
            continue
        arrow = f"{show_value(before)} → {show_value(after)}"
        forced = _FORCED[f] if diff.forces_replace else ""
        lines.append(f"        {esc(diff.path)}: {esc(arrow)}{forced}")
    return lines


_FORCED = {fmt: "  " + fmt.tag("magenta", "(forces replacement)") for fmt in (_Markup, _Plain)}


def _is_text(before: Any, after: Any) -> bool:
    """Two strings of which one spans lines: shown as a unified diff, not JSON."""
    return (isinstance(before, str) and isinstance(after, str)
            and ("\n" in before.rstrip("\n") or "\n" in after.rstrip("\n")))


_DIFF_LINES = 40
"""A longer diff is cut, saying how much was left out: the plan stays readable."""


def _unified(before: str, after: str, f: _Fmt) -> Iterator[str]:
    import difflib  # only a changed text is diffed

    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), "before",
                                      "after", n=2, lineterm=""))[2:]
    for line in lines[:_DIFF_LINES]:
        style = {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")
        text = f.esc(line)
        yield f"          {f.tag(style, text)}" if style else f"          {text}"
    if len(lines) > _DIFF_LINES:
        yield f"          {f.tag('dim', f'... {len(lines) - _DIFF_LINES} more diff lines')}"


_BATCH = 500
"""Lines written (or handed to rich) at once: each rich ``print`` costs ~60 us of
its rendering machinery, so a 10,000-resource plan printed line by line took
2.7 s; joined lines render to the same text (every line closes its tags and
``escape`` never leaves a trailing backslash)."""


def _print_lines(plain: list[str], markup: Callable[[], list[str]]) -> None:
    """Print a block of lines given as plain text and (made only if needed) markup."""
    if not console.plain:
        lines = markup()
        for start in range(0, len(lines), _BATCH):
            console.print("\n".join(lines[start:start + _BATCH]))
        return
    marked: list[str] = []
    for start in range(0, len(plain), _BATCH):
        chunk = "\n".join(plain[start:start + _BATCH])
        if plain_text(chunk) is None:  # some line is not its own plain text: per line
            marked = marked or markup()
            chunk = "\n".join(_plain_line(line, marked[start + i])
                              for i, line in enumerate(plain[start:start + _BATCH]))
        console.write_lines(chunk)


def _plain_line(line: str, markup: str) -> str:
    text = plain_text(line)
    return render_plain(markup) if text is None else text


def _plan(plan: Plan, f: _Fmt, *, header: bool) -> list[str]:
    lines = []
    if header:
        rev = plan.revision[:7] if plan.revision else "working tree"
        lines.append(f"{f.tag('bold', f'stack {f.esc(plan.stack)}')}  (rev {rev}, "
                     f"state serial {plan.serial})")
    lines.extend(f"  {f.tag('cyan', 'note')}: {f.esc(note)}" for note in plan.notes)
    shown = [c for c in plan.changes if c.is_change or c.refused]
    if not shown:
        lines.append("  No changes. Reality matches the configuration.")
        return lines
    lines.append("")
    for change in shown:
        lines.extend(_change(change, f))
    lines.append("")
    lines.append(plan.summary_line())
    return lines


def plan_lines(plan: Plan, *, header: bool = True) -> list[str]:
    """The markup lines of one stack's plan (see ``print_plan``)."""
    return _plan(plan, _Markup, header=header)


def print_plan(plan: Plan, *, header: bool = True) -> None:
    """The whole plan of one stack, as in UX.md."""
    _print_lines(_plan(plan, _Plain, header=header), lambda: plan_lines(plan, header=header))


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
    with Progress(*columns, console=console.rich(), transient=True) as progress:
        task = progress.add_task("apply", total=total)
        yield lambda _result: progress.advance(task)
