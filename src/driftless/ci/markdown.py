"""Plans as markdown for a pull request, and the split into comments.

GitHub refuses a comment over 65,536 characters, so ``split_comments`` cuts
the markdown at line boundaries into parts under a limit, closing an open
code fence at the end of a part and opening it again in the next. Each part
starts with a hidden marker naming its key and number, so a CI step can
find its own comments and update them in place. Pure functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from driftless.checks import CheckReport
from driftless.model import Action, Change, Plan

__all__ = ["GITHUB_COMMENT_LIMIT", "marker", "plans_markdown", "split_comments"]

GITHUB_COMMENT_LIMIT = 65_536
_WORD = {
    Action.CREATE: "create", Action.UPDATE: "update in place", Action.REPLACE: "replace",
    Action.DELETE: "delete", Action.READ: "read", Action.NOOP: "no change",
}
_FENCE = "```"


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."


def _change_lines(change: Change) -> list[str]:
    if change.refused:
        return [f"! {change.id}  {'exists, not managed' if change.unmanaged else 'refused'}"
                f"  {change.reason}"]
    why = f"  why: {change.reason}" if change.reason else ""
    lines = [f"{change.action.symbol} {change.id}  {_WORD[change.action]}{why}"]
    for diff in change.diffs:
        before, after = diff.shown()
        forces = "  (forces replacement)" if diff.forces_replace else ""
        lines.append(f"    {diff.path}: {_value(before)} → {_value(after)}{forces}")
    return lines


def _plan_section(plan: Plan) -> list[str]:
    rev = f"rev `{plan.revision[:12]}`, " if plan.revision else ""
    head = f"### Stack `{plan.stack}` ({rev}state serial {plan.serial})"
    changes = [c for c in plan.changes if c.is_change or c.refused]
    if not changes:
        return [head, "", "No changes.", ""]
    body = [line for c in changes for line in _change_lines(c)]
    return [head, "", f"**{plan.summary_line()}**", "", "<details open><summary>changes"
            "</summary>", "", _FENCE + "diff", *body, _FENCE, "", "</details>", ""]


def _checks_section(report: CheckReport) -> list[str]:
    if not report.findings:
        return ["### Policy checks", "", "No findings.", ""]
    rows = ["| severity | rule | resource | finding |", "|---|---|---|---|"]
    for f in [*report.errors, *report.warnings, *report.suppressed]:
        severity = f"suppressed ({f.suppressed})" if f.suppressed else f.severity.value
        rows.append(f"| {_cell(severity)} | {f.rule} | `{f.address}` | {_cell(f.message)} |")
    return ["### Policy checks", "", f"**{report.summary_line()}**", "", *rows, ""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def plans_markdown(plans: Sequence[Plan], *, checks: CheckReport | None = None,
                   title: str = "driftless plan", reasons: Iterable[str] = ()) -> str:
    """One markdown document for every stack's plan (and the checks, if run)."""
    lines = [f"## {title}", ""]
    why = list(reasons)
    if why:
        lines += ["Stacks planned:", "", *(f"- {r}" for r in why), ""]
    for plan in plans:
        lines += _plan_section(plan)
    if not plans:
        lines += ["No stack to plan: nothing this change touches renders differently.", ""]
    if checks is not None:
        lines += _checks_section(checks)
    return "\n".join(lines).rstrip() + "\n"


def marker(key: str, part: int, total: int) -> str:
    """The hidden first line of a comment part: how CI finds it again."""
    return f"<!-- driftless-plan:{key} part {part}/{total} -->"


def split_comments(text: str, *, key: str = "plan",
                   limit: int = GITHUB_COMMENT_LIMIT) -> list[str]:
    """``text`` as comments of at most ``limit`` characters each, markers included."""
    overhead = len(marker(key, 999, 999)) + len("\n\n*(continued)*\n") + len(_FENCE) * 2 + 64
    budget = limit - overhead
    if budget < 200:
        raise ValueError(f"a comment limit of {limit} characters leaves no room for text")
    bodies: list[list[str]] = [[]]
    size = 0
    fence: str | None = None  # the fence line open at this point, if any
    for line in _short_lines(text.splitlines(), budget // 2):
        if size + len(line) + 1 > budget and bodies[-1]:
            if fence is not None:
                bodies[-1].append(_FENCE)
            bodies.append([fence] if fence is not None else [])
            size = len(fence) + 1 if fence is not None else 0
        bodies[-1].append(line)
        size += len(line) + 1
        if line.startswith(_FENCE):
            fence = None if fence is not None else line
    total = len(bodies)
    parts = []
    for n, body in enumerate(bodies, start=1):
        note = ["", f"*(continued in part {n + 1} of {total})*"] if n < total else []
        parts.append("\n".join([marker(key, n, total), *body, *note]) + "\n")
    return parts


def _short_lines(lines: Iterable[str], width: int) -> Iterable[str]:
    """Lines, with any longer than ``width`` cut into pieces of that width."""
    for line in lines:
        while len(line) > width:
            yield line[:width]
            line = line[width:]
        yield line
