"""``format(<literal>, count.index)`` and ``lookup(<map variable>, key, default)``,
compiled in one step, give what the general evaluator gives: values, errors
and the string's budget (a call's result is charged whichever way it was made)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from driftless.model.policy import Limits, Policy
from driftless.render.compiled import Compiler, Plainness, Slow
from driftless.render.evaluate import EvalError, Scope, resolve_string
from driftless.render.yamlio import LocDict

VARS: dict[str, Any] = {"edits": {"3": "three ", "x": 1, True: "yes"}, "body": "b" * 40,
                        "name": "web", "located": LocDict({"1": "one"}), "nothing": None,
                        "flag": True}

TEMPLATES = [
    '${format("%d", count.index)}',
    '${format("%s", count.index)}',
    '${format("f-%d.txt", count.index)}',
    '${format("%d%%", count.index)}',
    '${format("%%%s", count.index)}',
    '${format("%5d", count.index)}',
    '${format("%d %d", count.index)}',
    '${format("%d", var.name)}',
    '${lookup(var.edits, format("%d", count.index), format("%d ", count.index))}${var.body}',
    '${lookup(var.located, format("%d", count.index), "none")}',
    '${lookup(var.edits, count.index, "none")}',
    '${lookup(var.edits, var.nothing, "none")}',
    '${lookup(var.edits, [count.index], "none")}',
    '${lookup(var.edits, var.flag, var.body)}',
    '${lookup(var.edits, "x", "none")}-${count.index}',
    '${lookup(var.name, "x", "none")}',
    '${lookup(var.edits, format("%d", count.index), [1, 2])}',
    '${[format("%d", count.index), format("%s", count.index), format("%d", count.index)]}',
    '${format("%d", count.index)}${var.body}${var.body}',
]


def _value(text: str, scope: Scope, index: int) -> Any:
    code = Compiler(scope, "count", Plainness()).template(text)
    assert code is not None, text
    try:
        value = code(index, None)
    except Slow:
        return _general(text, replace(scope, count_index=index))
    return ("value", type(value).__name__, value)


def _general(text: str, scope: Scope) -> Any:
    try:
        value = resolve_string(text, scope)
    except EvalError as exc:
        return ("error", str(exc), exc.offset, exc.hint)
    return ("value", type(value).__name__, value)


@pytest.mark.parametrize("limit", [4 * 1024 * 1024, 120, 60, 30, 8, 2])
@pytest.mark.parametrize("text", TEMPLATES)
def test_indexed_calls_agree(text: str, limit: int, tmp_path: Path) -> None:
    policy = Policy(limits=Limits(string_bytes=limit))
    scope = Scope(variables=VARS, base_dir=tmp_path, root=tmp_path, policy=policy)
    for index in (0, 1, 3, 9, 10, 99, 123456, 2**61, -(2**61)):
        want = _general(text, replace(scope, count_index=index))
        assert _value(text, scope, index) == want, (text, limit, index)
