"""Output without a terminal is written without rich: held here to rich's own text.

``driftless.cli.plain`` writes a string as itself unless rich would change it
(tags, escapes, emoji codes, control codes, tabs), and the plan printer builds
plain lines from raw values. Each is compared with rich's Console (the one
the CLI used before) on hostile strings and on random ones.
"""

from __future__ import annotations

import io
import random
import sys

import pytest
from rich.console import Console
from rich.markup import escape as rich_escape

from driftless.cli import display, plain
from driftless.model import Action, Change, FieldDiff, Plan, Resource, ResourceId

NASTY = ["plain", "[bold]not markup[/]", "ends with a backslash\\", "two at the end\\\\",
         "three\\\\\\", "\\[escaped\\]", "a\\[1]", "tab\there", ":smile: and :thumbs_up:",
         "a:b:smile:", ":SMILE-emoji:", "http://host:8080/x", "12:30:00", "::1", "x:smile:y",
         "wide 漢字 and é", "a\\\\[red]x[/red]", "[/]", "[", "]", "[a", "[1]", "[true]",
         "x" * 300, "bell\x07 and cr\r", "\tleading tab", "a\tb\tc", "esc \x1b[31m red",
         "trailing   ", "zero\u200bwidth", "nul\x00", "line\nbreak", "[#fff]", "[@click]",
         "back\\slash inside", "\\", "", "C:\\", "f[0]", "f[abc]", "x]"]
_ALPHABET = ["[", "]", "\\", ":", "/", "a", "b", "smile", "x", " ", "\t", "\r", "\x07", "0",
             "#", "@", "=", "-emoji", "漢", "\n", "red", '"', ",", "(", ")"]


def _random_strings(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12))) for _ in range(n)]


def _rich_console(file: io.StringIO) -> Console:
    return Console(file=file, highlight=False, soft_wrap=True, color_system=None, width=80)


def _rich_prints(*markup: str, emoji: bool = True) -> str:
    file = io.StringIO()
    console = _rich_console(file)
    for m in markup:
        console.print(m, emoji=emoji)
    return file.getvalue()


@pytest.mark.parametrize("text", NASTY + _random_strings(1, 400))
def test_escape_is_riches(text: str) -> None:
    assert plain.escape(text) == rich_escape(text)


@pytest.mark.parametrize("emoji", [True, False])
def test_out_prints_what_rich_prints(emoji: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.errors import MarkupError

    texts = NASTY + _random_strings(2, 1500) + [rich_escape(t) for t in NASTY]
    written = io.StringIO()
    monkeypatch.setattr(sys, "stdout", written)
    out = plain.Out()
    assert out.plain
    printed = []
    for text in [*texts, ""]:
        try:
            expected = _rich_prints(text, emoji=emoji)
        except MarkupError:  # a tag closing nothing: rich refuses it, and so does Out
            with pytest.raises(MarkupError):
                out.print(text, emoji=emoji)
            continue
        out.print(text, emoji=emoji)
        printed.append(expected)
    out.print()
    assert written.getvalue() == "".join(printed) + "\n"
    assert out._console is None  # these needed rich's markup parser at most, not a console


def test_out_hands_anything_but_a_string_to_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.table import Table

    written = io.StringIO()
    monkeypatch.setattr(sys, "stdout", written)
    out = plain.Out()
    table = Table("a", "b")
    table.add_row("1", "[2]")
    out.print(table)
    out.print("one", "two")
    file = io.StringIO()
    reference = _rich_console(file)
    reference.print(table)
    reference.print("one", "two")
    assert written.getvalue() == file.getvalue()


@pytest.mark.parametrize("env", [
    {}, {"FORCE_COLOR": "1"}, {"FORCE_COLOR": ""}, {"TTY_COMPATIBLE": "1"},
    {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "2"}])
@pytest.mark.parametrize("tty", [True, False])
def test_terminal_is_decided_as_rich_decides(env: dict[str, str], tty: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    class File(io.StringIO):
        def isatty(self) -> bool:
            return tty

    file = File()
    assert plain.is_terminal(file) == Console(file=file).is_terminal


def _change(i: int, text: str, rng: random.Random) -> Change:
    actions = [Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.READ]
    rid = ResourceId("local", "file", f"f{i}{text[:6]}")
    action = actions[i % len(actions)]
    before = rng.choice([text, None, 3, True, [text], {"k": text}, f"a\n{text}\nb"])
    diffs = (FieldDiff("content", before, text + "!", forces_replace=i % 3 == 0),
             FieldDiff(f"path{text[:5]}", None, f"/tmp/{text}", sensitive=i % 4 == 0),
             FieldDiff("lines", f"one\n{text}\n", f"two\n{text}\n"))
    return Change(rid, action, desired=Resource(rid, {"content": text}, protect=i % 7 == 0),
                  diffs=diffs, reason=f"why {text}", refused=i % 11 == 0,
                  unmanaged=i % 22 == 0, adopt=i % 13 == 0)


def _plan(texts: list[str]) -> Plan:
    rng = random.Random(3)
    changes = tuple(_change(i, text, rng) for i, text in enumerate(texts))
    return Plan(f"st{texts[0]}", "0123456789", "d", "lineage", 3, changes,
                notes=tuple(texts[:5]))


@pytest.mark.parametrize("texts", [NASTY, _random_strings(4, 700), ["x"] * 1200,
                                   [f"v{i}" for i in range(600)] + ["[bold]"]],
                         ids=["nasty", "random", "ordinary", "one-hard-line-in-many"])
def test_plain_plan_is_what_rich_prints_for_its_markup(texts: list[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    the_plan = _plan(texts)
    written = io.StringIO()
    monkeypatch.setattr(sys, "stdout", written)
    out = plain.Out()
    monkeypatch.setattr(display, "console", out)
    display.print_plan(the_plan)
    for change in the_plan.changes[:50]:
        display.print_change(change)
    reference = [*display.plan_lines(the_plan),
                 *(line for c in the_plan.changes[:50] for line in display.change_lines(c))]
    assert written.getvalue() == _rich_prints(*reference)


@pytest.mark.parametrize("value", ["x" * 500, "é" * 200, "\n" * 100, "a\"b" * 60, "x" * 129,
                                   "x" * 130, "x" * 131, "\u2028" * 50, True, False, None, 3,
                                   2.5, float("nan"), [1, "a"], {"b": 1, "a": [True]}, "",
                                   "\x00" * 40, "\ud800"])
def test_show_value_is_the_json_of_the_value_cut(value: object) -> None:
    import json

    text = (json.dumps(value) if isinstance(value, str)
            else json.dumps(value, sort_keys=True, default=str))
    assert display.show_value(value) == (text if len(text) <= 120 else text[:117] + "...")


@pytest.mark.parametrize("env", [{}, {"COLUMNS": "123", "LINES": "7"}, {"NO_COLOR": "1"},
                                 {"TTY_INTERACTIVE": "1"}, {"COLUMNS": "x"}, {"FORCE_COLOR": "1"},
                                 {"FORCE_COLOR": "1", "TERM": "dumb"}])
def test_the_console_out_makes_is_the_one_the_cli_made(env: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COLUMNS", "LINES", "NO_COLOR", "TTY_INTERACTIVE", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    before = Console(highlight=False, soft_wrap=True)  # what driftless.cli.output made
    out = plain.Out()
    made = out.rich()

    def seen(c: Console) -> tuple[object, ...]:
        return (c.width, c.height, c.no_color, c.color_system, c.is_terminal,
                c.is_interactive, c.soft_wrap, c._highlight, c.file)

    assert seen(made) == seen(before)
    assert out.plain is (before.color_system is None and not before.is_terminal)
