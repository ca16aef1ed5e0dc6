"""A plan printed in batches of lines reads exactly as one printed line by line,
through rich on a terminal and through the plain-text path elsewhere."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from driftless.cli import display
from driftless.cli.plain import Out
from driftless.model import Action, Change, FieldDiff, Plan, Resource, ResourceId

NASTY = ["plain", "[bold]not markup[/]", "ends with a backslash\\", "\\[escaped\\]", "tab\there",
         ":smile: and :thumbs_up:", "wide 漢字 and é", "a\\\\[red]x[/red]", "[/]", "x" * 300,
         "bell\x07 and cr\r", "\tleading tab", "a\tb\tc", "esc \x1b[31m red", "trailing   ",
         "zero\u200bwidth", "nul\x00"]


def _changes() -> tuple[Change, ...]:
    out: list[Change] = []
    actions = [Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.READ]
    for i, text in enumerate(NASTY * 60):
        rid = ResourceId("local", "file", f"f{i}[{text[:8]}]")
        action = actions[i % len(actions)]
        diffs = (FieldDiff("content", text, text + "!", forces_replace=i % 3 == 0),
                 FieldDiff(f"path[{text[:5]}]", None, f"/tmp/{text}", sensitive=i % 4 == 0))
        out.append(Change(rid, action, desired=Resource(rid, {"content": text}, protect=i % 7 == 0),
                          diffs=diffs, reason=f"why {text}", refused=i % 11 == 0,
                          unmanaged=i % 22 == 0, adopt=i % 13 == 0))
    return tuple(out)


def _plan() -> Plan:
    return Plan("st[a]ck", "0123456789", "d", "lineage", 3, _changes(),
                notes=("note [with] brackets", ":smile:"))


@pytest.mark.parametrize("kind", ["plain", "colour"])
def test_batched_plan_prints_the_same_as_line_by_line(kind: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def console() -> Console:
        options = {"no_color": True} if kind == "plain" else {
            "force_terminal": True, "color_system": "truecolor", "width": 80}
        return Console(file=io.StringIO(), highlight=False, soft_wrap=True, **options)

    by_line = console()
    for line in display.plan_lines(_plan()):
        by_line.print(line)
    written = io.StringIO()
    monkeypatch.setattr(sys, "stdout", written)
    batched = Out()
    if kind == "colour":  # the terminal: rich prints
        batched._coloured, batched._console = True, console()
        written = batched._console.file
    assert batched.plain is (kind == "plain")
    monkeypatch.setattr(display, "console", batched)
    display.print_plan(_plan())
    assert len(display.plan_lines(_plan())) > display._BATCH  # more than one batch
    assert written.getvalue() == by_line.file.getvalue()  # type: ignore[attr-defined]
    assert "not markup" in written.getvalue()
