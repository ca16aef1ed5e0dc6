"""Where a ``${`` closes: the quick find agrees with the character scan.

``expr._closing`` takes the first ``}`` when no string or brace comes before
it, and otherwise scans; hypothesis throws texts of the characters that
matter at both and compares the answer (or the syntax error).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from driftless.render import expr

TEXTS = st.text(alphabet='${}"\\ab.[]', max_size=24)


def _answer(fn: Callable[[str, int], int], text: str, start: int) -> int | str:
    try:
        return fn(text, start)
    except expr.ExprSyntaxError as exc:
        return f"error at {exc.offset}: {exc}"


@settings(max_examples=400)
@given(text=TEXTS, start=st.integers(0, 26))
def test_quick_find_agrees_with_the_scan(text: str, start: int) -> None:
    assert _answer(expr._closing, text, start) == _answer(expr._scan_closing, text, start)


def test_templates_parse_as_before() -> None:
    tpl = expr.parse_template('a ${var.x} b ${lookup(var.m, "}", "{")} c')
    assert [p for p in tpl.parts if isinstance(p, str)] == ["a ", " b ", " c"]
    assert len(tpl.parts) == 5 and tpl.calls
