"""Compiled templates of repeated resources give what the general evaluator gives.

``render.compiled`` evaluates the strings of ``count``/``for_each``
resources once compiled; whenever it cannot (a secret, another resource, an
error, a limit) the instance is evaluated the general way. These tests
compare both on many strings and instances: same values (and types), and
the same problems with the same file:line:col, hints and order.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from driftless.errors import RenderError
from driftless.model import Sensitive
from driftless.model.policy import Limits, Policy
from driftless.providers import KindSpec
from driftless.render import RenderOptions, load_project, render_stack
from driftless.render.compiled import Compiler, Plainness, Slow
from driftless.render.evaluate import EvalError, Scope, resolve_string

VARS: dict[str, Any] = {
    "name": "web", "n": 3, "big": 2**80, "flag": True, "ratio": 1.5, "nothing": None,
    "list": ["a", "b", "c"], "map": {"a": "x", "1": "one", "k": {"deep": 1}, "2": 2},
    "edits": {"1": "edited "}, "long": "y" * 30, "pct": "%d", "quoted": 'say "hi"',
    "secret": Sensitive("s3cret"), "smap": {"a": Sensitive("hidden"), "b": "plain"},
}

COUNT_TEMPLATES = [
    "${var.name}-${count.index}",
    "${count.index}",
    "f${count.index}",
    "${count.index}.txt",
    "${var.name}/f${count.index}.txt",
    "${var.list[count.index]}",
    "${var.map[count.index]}",
    '${var.map[format("%d", count.index)]}',
    '${lookup(var.edits, format("%d", count.index), format("%d ", count.index))}${var.name}',
    '${lookup(var.map, "zz")}',
    '${lookup(var.map, count.index, "dflt")}',
    '${lookup(var.map, format("%d", count.index))}',
    '${lookup(var.name, "a")}',
    '${lookup(var.map)}',
    '${lookup(var.map, var.list, "d")}',
    '${format("%s/%d", var.name, count.index)}',
    '${format("%5d|%-3s|%x", count.index, var.name, count.index)}',
    '${format("%d", var.name)}',
    '${format("%d", var.flag)}',
    '${format("%s", var.flag)}',
    '${format("%s", var.nothing)}',
    '${format("%s", var.list)}',
    '${format("%s", var.big)}',
    '${format("%d", var.big)}',
    '${format("%d", var.ratio)}',
    '${format("%d%%", count.index)}',
    '${format("100%%-%s-%%%d", var.name, count.index)}',
    '${format("%d")}',
    '${format("%d %d", count.index)}',
    '${format("%q", count.index)}',
    '${format("%", count.index)}',
    '${format(var.pct, count.index)}',
    '${format("%s", var.long)}${var.long}',
    "${var.big}-x",
    "${var.big}",
    "${var.flag}-${var.nothing}-${var.ratio}-${var.n}",
    "${var.list}",
    "a${var.list}",
    "${var.map}-${count.index}",
    "${[count.index, var.name]}",
    "${{a: count.index, b: [var.n]}}",
    "${var.secret}-${count.index}",
    "${var.smap.b}-${count.index}",
    "${var.smap[count.index]}",
    '${join(",", [var.name, format("%d", count.index)])}',
    '${join(",", var.name)}',
    '${sha256(format("%d", count.index))}',
    "${base64encode(var.name)}-${count.index}",
    "${jsonencode({i: count.index, l: var.list})}",
    "${var.missing}-${count.index}",
    "${count.nope}",
    "${count}",
    "${each.key}",
    "${nofunc(count.index)}",
    "${var.map.k.deep}-${count.index}",
    "${var.map.k.nope}-${count.index}",
    '${var.map["a"]}${count.index}',
    "$${literal} ${count.index}",
    "${var.list[5]}-${count.index}",
    "${var.list[-1]}",
    "${var.list[count.index][0]}",
    "${var.name.x}",
    "${var.list[*]}",
    "${var}",
    "${other.path}-${count.index}",
    "${stack.x.outputs.y}",
    "${secret.env:HOME}",
    '${file("nope.txt")}',
    "${var.quoted}${count.index}",
    "${true}-${null}-${1.5}-${count.index}",
    "${count.index",
    "${}",
    "${var.name}${var.n}",
]

EACH_TEMPLATES = [
    "${each.key}",
    "${each.key}-${var.name}",
    "${each.value}",
    "${each.value.port}-${each.key}",
    '${format("%s:%d", each.key, each.value.port)}',
    "${each.value.nope}",
    "${each.key.x}",
    "${each.other}",
    "${each}",
    "${count.index}",
    '${lookup(each.value, "port", 1)}',
]

EACH_VALUES: list[tuple[str, Any]] = [
    ("a", {"port": 80}), ("b", {"port": True}), ("c", {"port": "x"}), ("d", 7), ("e", None),
]


def _typed(value: Any) -> Any:
    """A value with its types spelled out (``1 == True`` must not hide a difference)."""
    if isinstance(value, Sensitive):
        return ("secret", _typed(value.value))
    if isinstance(value, dict):
        return ("map", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, value)


def _general(text: str, scope: Scope) -> Any:
    try:
        return ("value", _typed(resolve_string(text, scope)))
    except EvalError as exc:
        return ("error", str(exc), exc.offset, exc.hint)


def _both(text: str, scope: Scope, mode: str, index: Any, each: Any,
          *, each_plain: bool = True) -> tuple[Any, Any, str]:
    """(general result, compiled result, how the compiled one was made)."""
    instance = _instance_scope(scope, mode, index, each)
    want = _general(text, instance)
    code = Compiler(scope, mode, Plainness(), each_plain=each_plain).template(text)
    if code is None:
        return want, want, "not compiled"
    try:
        value = code(index, (index, each) if mode == "for_each" else None)
    except Slow:
        return want, _general(text, instance), "slow"
    return want, ("value", _typed(value)), "compiled"


def _instance_scope(scope: Scope, mode: str, index: Any, each: Any) -> Scope:
    if mode == "count":
        return replace(scope, count_index=index)
    return replace(scope, each=(index, each))


@pytest.mark.parametrize("limit", [4 * 1024 * 1024, 40, 8])
@pytest.mark.parametrize("text", COUNT_TEMPLATES)
def test_count_templates_agree(text: str, limit: int, tmp_path: Path) -> None:
    policy = Policy(limits=Limits(string_bytes=limit))
    scope = Scope(variables=VARS, base_dir=tmp_path, root=tmp_path, policy=policy)
    for index in (0, 1, 2, 3, 7, 12345678901):
        want, got, how = _both(text, scope, "count", index, None)
        assert got == want, (text, index, how)


@pytest.mark.parametrize("text", EACH_TEMPLATES)
def test_for_each_templates_agree(text: str, tmp_path: Path) -> None:
    scope = Scope(variables=VARS, base_dir=tmp_path, root=tmp_path)
    for key, value in EACH_VALUES:
        want, got, how = _both(text, scope, "for_each", key, value)
        assert got == want, (text, key, how)


def test_secret_each_values_are_not_compiled(tmp_path: Path) -> None:
    scope = Scope(variables=VARS, base_dir=tmp_path, root=tmp_path)
    compiler = Compiler(scope, "for_each", Plainness(), each_plain=False)
    assert compiler.template("${each.value}") is None
    assert compiler.template("${each.key}") is not None


@pytest.mark.parametrize("text", [
    "${var.name}/f${count.index}.txt",
    '${lookup(var.edits, format("%d", count.index), format("%d ", count.index))}${var.name}',
    '${format("%s/%d", var.name, count.index)}',
    "${var.list[count.index]}",
    '${join("-", [var.name, format("%d", count.index)])}',
])
def test_common_templates_compile(text: str, tmp_path: Path) -> None:
    """The shapes big stacks use take the compiled way, with no fallback."""
    scope = Scope(variables=VARS, base_dir=tmp_path, root=tmp_path)
    code = Compiler(scope, "count", Plainness()).template(text)
    assert code is not None
    for index in range(3):
        assert _typed(code(index, None)) == _general(text, replace(scope, count_index=index))[1]


def test_a_variable_is_walked_once_per_render(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A thousand resources using one big map variable do not walk it a thousand times."""
    import driftless.render.compiled as compiled

    walks: list[Any] = []
    real = compiled._plain

    def counted(value: Any) -> bool:
        walks.append(value)
        return real(value)
    monkeypatch.setattr(compiled, "_plain", counted)
    scope = Scope(variables={"big": {str(n): n for n in range(1000)}}, base_dir=tmp_path,
                  root=tmp_path)
    plainness = Plainness()
    for _ in range(50):
        assert Compiler(scope, "count", plainness).template('${var.big["7"]}') is not None
    assert len(walks) == 1


def test_a_function_budget_is_kept(tmp_path: Path) -> None:
    """Each call charges its result to the string's budget, as the general way does."""
    policy = Policy(limits=Limits(string_bytes=100))
    scope = Scope(variables={"s": "z" * 100}, base_dir=tmp_path, root=tmp_path, policy=policy)
    calls = ", ".join(['format("%s", var.s)'] * 9)
    text = "${[" + calls + "]}"
    want, got, how = _both(text, scope, "count", 0, None)
    assert want[0] == "error" and "in all" in want[1]
    assert got == want and how == "slow"


STACK = """\
variables:
  names: {type: list, default: [a, b]}
  edits: {type: map, default: {"1": "one "}}
  token: {type: string, sensitive: true, default: tok}
resources:
  f:
    type: test:thing
    count: 4
    properties:
      name: "${var.names[count.index]}"
      size: ${lookup(var.edits, format("%d", count.index), count.index)}
      tags:
        k: "${lookup(var.edits, format(\\"%d\\", count.index))}"
        t: "${var.token}-${count.index}"
  g:
    type: test:thing
    for_each: {x: {n: 1}, y: {n: oops}}
    properties:
      name: "${each.key}"
      size: ${each.value.n}
  h:
    type: test:thing
    count: 2
    depends_on: [nothing]
    protect: "${count.index}"
    properties:
      name: "h${count.index}"
      size: ${var.missing}
"""


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 1
    tags: dict[str, str] = {}


THING = KindSpec("thing", Thing, "a test kind")


def kinds(provider: str, kind: str) -> KindSpec | None:
    return THING if (provider, kind) == ("test", "thing") else None


def _render(root: Path) -> tuple[list[str], str | None]:
    project = load_project(root)
    try:
        desired = render_stack(project, "app", RenderOptions(environ={}), kinds=kinds)
    except RenderError as exc:
        return [f"{p} [{p.hint}]" for p in exc.problems], None
    return [], desired.digest


def _project(root: Path, stack: str) -> Path:
    (root / "stacks/app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: t\nstacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(stack)
    return root


def test_problems_of_instances_are_as_before(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors inside compiled instances: same messages, file:line:col, hints and order."""
    root = _project(tmp_path, STACK)
    compiled, _ = _render(root)
    monkeypatch.setattr(Compiler, "template", lambda self, text: None)
    general, _ = _render(root)
    assert compiled == general
    assert any("stack.yaml:10:" in p and "index 2 is out of range" in p for p in compiled)
    assert compiled[0].startswith("stacks/app/stack.yaml:13:15: lookup(): key '0' is not in")
    assert sum("names unknown resource 'nothing'" in p for p in compiled) == 2


GOOD_STACK = """\
variables:
  names: {type: list, default: [a, b, c]}
  edits: {type: map, default: {"1": "one "}}
  token: {type: string, sensitive: true, default: tok}
resources:
  f:
    type: test:thing
    count: 3
    properties:
      name: "${lookup(var.edits, format(\\"%d\\", count.index), \\"\\")}${var.names[count.index]}"
      size: ${count.index}
      tags:
        k: "${count.index}"
        t: "${var.token}-${count.index}"
        j: '${jsonencode([count.index, var.names])}'
  g:
    type: test:thing
    for_each: {x: {n: 1}, y: {n: 2}}
    properties:
      name: "${each.key}-${f[0].name}"
      size: ${each.value.n}
"""


def test_renders_are_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values, secrets, deferred references and the digest are those of the general way."""
    root = _project(tmp_path, GOOD_STACK)
    project = load_project(root)
    desired = render_stack(project, "app", RenderOptions(environ={}), kinds=kinds)
    monkeypatch.setattr(Compiler, "template", lambda self, text: None)
    general = render_stack(load_project(root), "app", RenderOptions(environ={}), kinds=kinds)
    assert desired.digest == general.digest
    assert [repr(r) for r in desired.resources] == [repr(r) for r in general.resources]
    props = {str(r.id): r.properties for r in desired.resources}
    assert props["test:thing/f[1]"]["name"] == "one b"
    assert props["test:thing/f[2]"]["tags"]["k"] == "2"
    assert isinstance(props["test:thing/f[0]"]["tags"]["t"], Sensitive)
