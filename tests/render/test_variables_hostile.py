"""Variable declarations and values against hostile stack files.

A declaration's checks come from untrusted Git: a pattern must not hang a
render (RE2, linear time), a malformed check is a problem where it is
written (never a traceback), and a sensitive value appears in no message.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from driftless.errors import RenderError
from driftless.render import RenderOptions, load_project, render_stack

CANARY = "CANARY-7f3a9"


def _problems(root: Path, variables: str, env_values: str = "",
              cli: dict[str, str] | None = None) -> list[str]:
    """Problems (with hints) of rendering a stack declaring ``variables``."""
    (root / "stacks/app").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "driftless.yaml").write_text("project: t\nenvironments: [prod]\n"
                                         "stacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text("variables:\n" + variables + "resources: {}\n")
    (root / "environments/prod.yaml").write_text("variables:\n" + env_values if env_values
                                                 else "{}\n")
    options = RenderOptions(env="prod", variables=cli or {}, environ={})
    try:
        render_stack(load_project(root), "app", options)
    except RenderError as exc:
        return [f"{p} [{p.hint}]" if p.hint else str(p) for p in exc.problems]
    return []


def test_a_catastrophic_pattern_finishes_at_once(tmp_path: Path) -> None:
    start = time.monotonic()
    problems = _problems(tmp_path, '  v: {type: string, pattern: "(a+)+$", default: aa}\n',
                         cli={"v": "a" * 100_000 + "!"})
    assert time.monotonic() - start < 2
    assert len(problems) == 1
    assert "does not match the pattern '(a+)+$'" in problems[0]


@pytest.mark.parametrize(("pattern", "reason"), [
    pytest.param(r'"(a)\\1"', "invalid escape sequence", id="backreference"),
    pytest.param('"(?=a)b"', "invalid perl operator", id="lookahead"),
    pytest.param('"(?<!a)b"', "invalid perl operator", id="lookbehind"),
    pytest.param('"(a"', "missing )", id="unbalanced"),
    pytest.param('"a{1001}"', "invalid repetition size", id="repetition"),
    pytest.param('"((a{1000}){1000}){1000}"', "invalid", id="too-large"),
    pytest.param("[1, 2]", "pattern must be a string, got [1, 2]", id="not-a-string"),
])
def test_an_unusable_pattern_is_a_problem_at_the_pattern(tmp_path: Path, pattern: str,
                                                         reason: str) -> None:
    decl = f"  v: {{type: string, default: abc, pattern: {pattern}}}\n"
    problems = _problems(tmp_path, decl)
    assert len(problems) == 1, problems
    column = decl.index("pattern:") + len("pattern: ") + 1
    assert problems[0].startswith(f"stacks/app/stack.yaml:2:{column}: variable 'v': ")
    assert reason in problems[0]
    assert "RE2 syntax" in problems[0]


def test_an_unusable_pattern_of_an_object_field_is_found_too(tmp_path: Path) -> None:
    field = "      host: {type: string, pattern: '(?=x)'}\n"
    decl = "  db:\n    type: object\n    default: {host: h}\n    fields:\n" + field
    problems = _problems(tmp_path, decl)
    assert len(problems) == 1, problems
    column = field.index("'(?=x)'") + 1
    assert problems[0].startswith(f"stacks/app/stack.yaml:6:{column}: variable 'db' field "
                                  "'host': invalid pattern '(?=x)': invalid perl operator")


@pytest.mark.parametrize(("decl", "message"), [
    pytest.param('{type: integer, minimum: "5", default: 7}', "minimum must be a number, got '5'",
                 id="string-minimum"),
    pytest.param("{type: number, maximum: [1], default: 7}", "maximum must be a number, got [1]",
                 id="list-maximum"),
    pytest.param("{type: number, maximum: .nan, default: 7}", "maximum must be a number, got .nan",
                 id="nan-maximum"),
    pytest.param("{type: string, enum: free, default: free}", "enum must be a list",
                 id="enum-not-a-list"),
    pytest.param("{type: list, items: strin, default: [a]}", "items must be a type name",
                 id="items-type"),
    pytest.param("{type: object, fields: [a], default: {a: 1}}", "fields must be a map",
                 id="fields-not-a-map"),
    pytest.param("{type: string, 7: x, default: a, zz: 1}", "unknown key '7'", id="number-key"),
])
def test_malformed_checks_are_problems_not_tracebacks(tmp_path: Path, decl: str,
                                                      message: str) -> None:
    problems = _problems(tmp_path, f"  v: {decl}\n")
    assert any(message in p for p in problems), problems


def test_a_long_integer_is_a_number(tmp_path: Path) -> None:
    big = "9" * 400
    assert _problems(tmp_path, f"  v: {{type: number, default: {big}, minimum: 1}}\n") == []


@pytest.mark.parametrize(("decl", "value"), [
    pytest.param("{type: string, pattern: '[0-9]+'}", CANARY, id="pattern"),
    pytest.param("{type: string, enum: [a, b]}", CANARY, id="enum"),
    pytest.param("{type: integer}", CANARY, id="type"),
    pytest.param("{type: integer, maximum: 1}", "1" + "7" * 20, id="maximum"),
    pytest.param("{type: integer, minimum: 1}", "-1", id="minimum"),
    pytest.param("{type: list, items: integer}", f"[{CANARY}]", id="list-items"),
    pytest.param("{type: map, values: integer}", f"{{{CANARY}: x}}", id="map-keys"),
    pytest.param("{type: object, fields: {a: integer}}", f"{{a: 1, {CANARY}: 2}}",
                 id="object-field-name"),
    pytest.param("{type: object, fields: {a: {type: string, pattern: x}}}", f"{{a: {CANARY}}}",
                 id="object-field-pattern"),
])
def test_no_sensitive_value_in_any_check_message(tmp_path: Path, decl: str, value: str) -> None:
    body = decl[:-1] + ", sensitive: true}"
    problems = _problems(tmp_path, f"  v: {body}\n", f"  v: {value}\n")
    assert problems, "the value must break a check"
    assert all(CANARY not in p and "7777" not in p for p in problems), problems
    assert any("(sensitive)" in p or "a key" in p for p in problems), problems


@pytest.mark.parametrize(("decl", "value", "message"), [
    pytest.param("{type: string}", "true", "expected a string but got true (boolean)",
                 id="boolean"),
    pytest.param("{type: integer, default: 1}", "null", "expected an integer but got null (null)",
                 id="null"),
    pytest.param("{type: list}", "{a: [x, false]}", "got {a: ['x', false]} (map)", id="map"),
    pytest.param("{type: map}", "[1, yes]", "got [1, 'yes'] (list)", id="list"),
    pytest.param("{type: string, enum: [a, b]}", "c", "'c' is not one of: 'a', 'b'", id="enum"),
    pytest.param("{type: number, maximum: 1.5}", "2.5", "2.5 is above the maximum 1.5",
                 id="maximum"),
])
def test_values_are_spelt_as_yaml(tmp_path: Path, decl: str, value: str, message: str) -> None:
    problems = _problems(tmp_path, f"  v: {decl}\n", f"  v: {value}\n")
    assert any(message in p for p in problems), problems
    assert not any(word in p for p in problems for word in ("True", "False", "None"))
