"""Functions and ``${...}`` against hostile stack files: confinement, sizes, secrets, nesting.

Stack files come from untrusted Git; every test here is something a pull
request could write. Each must end in a clear problem (never a hang, a
traceback, a read outside the project or a secret in a message).
"""

from __future__ import annotations

import base64
import inspect
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import RenderError
from driftless.model import Sensitive, reveal
from driftless.model.policy import Policy
from driftless.render import RenderOptions, load_project, render_stack
from driftless.render.evaluate import EvalError, Scope, resolve_string
from driftless.render.expr import MAX_DEPTH

CANARY = "CANARY-7f3a9"
HEADER = """\
variables:
  tok: {type: string, sensitive: true}
  name: {type: string, default: web}
resources:
  f:
    type: local:file
    properties:
      path: /tmp/x
"""


def _project(root: Path, props: dict[str, str], files: dict[str, bytes] | None = None) -> Path:
    """A one-stack project whose resource ``f`` has ``props`` (single-quoted YAML)."""
    (root / "stacks/app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: t\nstacks: [stacks/app]\n")
    lines = "".join(f"      {k}: '{v}'\n" for k, v in props.items())
    (root / "stacks/app/stack.yaml").write_text(HEADER + lines)
    for name, data in (files or {}).items():
        path = root / "stacks/app" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _render(root: Path, *, policy: Policy | None = None) -> tuple[dict[str, Any], list[str]]:
    """The properties of ``f`` and the problems (message + hint) of rendering it."""
    project = load_project(root, policy=policy or Policy())
    try:
        desired = render_stack(project, "app", RenderOptions(variables={"tok": CANARY},
                                                             environ={}))
    except RenderError as exc:
        return {}, [f"{p} [{p.hint}]" for p in exc.problems]
    return dict(desired.resources[0].properties), []


def _one_problem(root: Path, props: dict[str, str], files: dict[str, bytes] | None = None,
                 ) -> str:
    _, problems = _render(_project(root, props, files))
    assert len(problems) == 1, problems
    return problems[0]


def _scope(root: Path, policy: Policy | None = None, **variables: Any) -> Scope:
    return Scope(variables=variables, base_dir=root, root=root, policy=policy or Policy())


def _error(text: str, scope: Scope) -> EvalError:
    with pytest.raises(EvalError) as info:
        resolve_string(text, scope)
    return info.value


# --- 1. confinement ------------------------------------------------------------------------


@pytest.mark.parametrize("expr", [
    pytest.param('${file("../../../etc/passwd")}', id="dotdot"),
    pytest.param('${file("/etc/passwd")}', id="absolute"),
    pytest.param('${file("link")}', id="symlink-out"),
    pytest.param('${filebase64("/etc/passwd")}', id="filebase64-absolute"),
    pytest.param('${templatefile("/etc/passwd", {})}', id="templatefile-absolute"),
])
def test_reads_outside_the_project_are_refused_naming_the_rule(tmp_path: Path, expr: str) -> None:
    root = _project(tmp_path, {"content": expr})
    (root / "stacks/app/link").symlink_to("/etc/passwd")
    _, problems = _render(root)
    assert len(problems) == 1
    assert "is outside the project; a repository may only read its own files" in problems[0]
    assert "--allow-read DIR" in problems[0]
    assert "root:" not in problems[0]


def test_relative_names_are_relative_to_the_stack_directory(tmp_path: Path) -> None:
    root = _project(tmp_path, {"content": '${file("conf/a.txt")}', "up": '${file("../x.txt")}'},
                    {"conf/a.txt": b"hello"})
    (root / "stacks/x.txt").write_text("up")
    props, problems = _render(root)
    assert problems == []
    assert props["content"] == "hello" and props["up"] == "up"


def test_symlink_inside_the_project_is_followed(tmp_path: Path) -> None:
    root = _project(tmp_path, {"content": '${file("link")}'}, {"real.txt": b"real"})
    (root / "stacks/app/link").symlink_to(root / "stacks/app/real.txt")
    assert _render(root)[0]["content"] == "real"


def test_an_operator_root_widens_what_may_be_read(tmp_path: Path) -> None:
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "ca.pem").write_text("PEM")
    project = tmp_path / "p"
    project.mkdir()
    text = f'${{file("{outside / "ca.pem"}")}}'
    refused = _error(text, _scope(project))
    assert "outside the project" in str(refused)
    allowed = Policy().widened(read_roots=[outside])
    assert resolve_string(text, _scope(project, allowed)) == "PEM"


@pytest.mark.parametrize("target", [
    pytest.param("fifo", id="fifo"),
    pytest.param(".", id="directory"),
    pytest.param("/dev/zero", id="dev-zero-allowed-root"),
    pytest.param("/dev/null", id="dev-null-allowed-root"),
])
def test_special_files_are_refused_without_blocking(tmp_path: Path, target: str) -> None:
    os.mkfifo(tmp_path / "fifo")
    policy = Policy().widened(read_roots=["/dev"])
    start = time.monotonic()
    for fn in ("file", "filebase64"):
        error = _error(f'${{{fn}("{target}")}}', _scope(tmp_path, policy))
        assert "regular file" in str(error) or "is a directory" in str(error)
    assert time.monotonic() - start < 2


# --- 2. binary and huge files -------------------------------------------------------------


def test_binary_file_is_a_clear_error_and_filebase64_reads_it(tmp_path: Path) -> None:
    data = b"\xff\xfe\x00binary"
    root = _project(tmp_path, {"content": '${file("b.bin")}'}, {"b.bin": data})
    _, problems = _render(root)
    assert problems == ["stacks/app/stack.yaml:9:19: file(): 'b.bin' is not UTF-8 text; "
                        "use filebase64() [None]"]
    line = "      content: '${filebase64(\"b.bin\")}'\n"
    (root / "stacks/app/stack.yaml").write_text(HEADER + line)
    assert _render(root)[0]["content"] == base64.b64encode(data).decode()


@pytest.mark.parametrize("fn", ["file", "filebase64", "templatefile"])
def test_a_file_over_string_bytes_is_refused_before_reading(tmp_path: Path, fn: str) -> None:
    with open(tmp_path / "huge", "wb") as out:
        out.truncate(64 * 1024 * 1024)  # sparse: costs no disk, would cost 64 MiB to read
    args = '"huge", {}' if fn == "templatefile" else '"huge"'
    error = _error(f"${{{fn}({args})}}", _scope(tmp_path))
    assert "over the limit string_bytes (4194304)" in str(error)
    assert error.hint and "--limit string_bytes=N" in error.hint


# --- 3. string sizes ----------------------------------------------------------------------


@pytest.mark.parametrize("expr", [
    pytest.param('${format("%200000000d", 1)}', id="width"),
    pytest.param('${format("%.999999999f", 1.0)}', id="float-precision"),
    pytest.param('${format("%.999999999d", 1)}', id="int-precision"),
    pytest.param('${format("%*d", 999999999, 1)}', id="star-width"),
    pytest.param('${format("%.*f", 999999999, 1.5)}', id="star-precision"),
    pytest.param('${format("%99999999999999999999999999s", "x")}', id="width-many-digits"),
    pytest.param('${format("%4000000s%4000000s", "a", "b")}', id="sum-of-directives"),
])
def test_format_is_sized_before_it_allocates(tmp_path: Path, expr: str) -> None:
    start = time.monotonic()
    error = _error(expr, _scope(tmp_path))
    assert time.monotonic() - start < 0.5
    assert "over the limit string_bytes" in str(error)
    assert error.hint and "--limit string_bytes" in error.hint


@pytest.mark.parametrize(("expr", "message"), [
    pytest.param('${format("%q", 1)}', "unsupported directive at 'q'", id="unknown-directive"),
    pytest.param('${format("%(x)s", 1)}', "unsupported directive", id="mapping-key"),
    pytest.param('${format("100%", 1)}', "unsupported directive at the end", id="trailing-percent"),
    pytest.param('${format("%d", "x")}', "%d needs a number, got 'x'", id="type"),
    pytest.param('${format("%d", true)}', "%d needs a number, got true", id="bool"),
    pytest.param('${format("%d %d", 1)}', "needs more than the 1 value(s)", id="too-few"),
    pytest.param('${format("%d", 1, 2)}', "takes 1 value(s) but 2 were given", id="too-many"),
    pytest.param('${format("%c", 99999999)}', "%c cannot print 99999999", id="char-range"),
    pytest.param('${format("%x", 1.5)}', "%x needs an integer, got 1.5", id="hex-float"),
])
def test_format_mistakes_are_clear_errors(tmp_path: Path, expr: str, message: str) -> None:
    assert message in str(_error(expr, _scope(tmp_path)))


@pytest.mark.parametrize(("expr", "expected"), [
    pytest.param('${format("%s-%03d|%5.1f|%-3s|%x|%%", "a", 7, 2.25, "b", 255)}',
                 "a-007|  2.2|b  |ff|%", id="directives"),
    pytest.param('${format("%s %s %s", true, null, [1, "x"])}', 'true null [1,"x"]',
                 id="yaml-spelling"),
    pytest.param('${format("%*d|%-*d", 4, 1, 3, 2)}', "   1|2  ", id="star"),
])
def test_format_still_formats(tmp_path: Path, expr: str, expected: str) -> None:
    assert resolve_string(expr, _scope(tmp_path)) == expected


def test_every_function_result_is_capped_by_string_bytes(tmp_path: Path) -> None:
    (tmp_path / "k.txt").write_text("k" * 800)
    policy = Policy().widened(limits={"string_bytes": 1000})
    scope = _scope(tmp_path, policy, big="x" * 800, items=["y" * 400] * 3)
    for expr in ('${base64encode(var.big)}', '${join(",", var.items)}',
                 '${jsonencode(var.items)}', '${format("%s%s", var.big, var.big)}',
                 '${var.big}${var.big}', '${filebase64("k.txt")}'):
        error = _error(expr, scope)
        assert "string_bytes (1000)" in str(error), expr
    (tmp_path / "big.txt").write_text("z" * 1001)
    assert "string_bytes (1000)" in str(_error('${file("big.txt")}', scope))
    assert resolve_string("${file(\"k.txt\")}", scope) == "k" * 800


def test_repeating_a_call_cannot_multiply_memory(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a" * 900)
    policy = Policy().widened(limits={"string_bytes": 1000})
    text = "${[" + ", ".join(['file("a.txt")'] * 20) + "]}"
    error = _error(text, _scope(tmp_path, policy))
    assert "in all (8 times the limit string_bytes)" in str(error)


@pytest.mark.parametrize("body", [
    pytest.param('${templatefile("t.tmpl", {})}', id="self"),
    pytest.param('${templatefile("t.tmpl", {})}${templatefile("t.tmpl", {})}', id="self-twice"),
])
def test_a_template_including_itself_is_refused(tmp_path: Path, body: str) -> None:
    (tmp_path / "t.tmpl").write_text(body)
    error = _error('${templatefile("t.tmpl", {})}', _scope(tmp_path))
    assert "'t.tmpl' includes itself through templatefile" in str(error)


def test_a_chain_of_templates_is_bounded(tmp_path: Path) -> None:
    deep = "[" * (MAX_DEPTH - 2) + "x" + "]" * (MAX_DEPTH - 2)
    for i in range(20):
        call = f'templatefile("t{i + 1}.tmpl", {{x: 1}})'
        (tmp_path / f"t{i}.tmpl").write_text(f"${{{deep}}}${{{call}}}")
    error = _error('${templatefile("t0.tmpl", {x: 1})}', _scope(tmp_path))
    assert "templates nest more than 8 deep" in str(error)


def test_a_template_fanout_is_bounded(tmp_path: Path) -> None:
    for i in range(6):
        calls = f'${{templatefile("t{i + 1}.tmpl", {{}})}}' * 50
        (tmp_path / f"t{i}.tmpl").write_text(calls)
    (tmp_path / "t6.tmpl").write_text("")
    start = time.monotonic()
    error = _error('${templatefile("t0.tmpl", {})}', _scope(tmp_path))
    assert time.monotonic() - start < 5
    assert "string_bytes" in str(error)


def test_huge_numbers_cannot_be_written(tmp_path: Path) -> None:
    assert "at most 400 digits" in str(_error("${" + "9" * 5000 + "}", _scope(tmp_path)))
    assert "too large" in str(_error("${" + "9" * 350 + ".5}", _scope(tmp_path)))
    # the largest integer the language admits formats quickly and within limits
    assert len(resolve_string('${format("%d", ' + "9" * 400 + ")}", _scope(tmp_path))) == 400


# --- 4. secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("expr", [
    pytest.param("${lookup({a: 1}, var.tok)}", id="lookup-key"),
    pytest.param("${lookup({a: var.tok}, \"b\")}", id="lookup-secret-map-keys"),
    pytest.param("${file(var.tok)}", id="file-name"),
    pytest.param('${file(format("x/%s", var.tok))}', id="file-built-name"),
    pytest.param('${file(join("/", ["x", var.tok]))}', id="file-joined-name"),
    pytest.param("${filebase64(var.tok)}", id="filebase64-name"),
    pytest.param("${templatefile(var.tok, {})}", id="templatefile-name"),
    pytest.param('${templatefile("t.tmpl", {s: var.tok})}', id="template-local"),
    pytest.param('${format("%d", var.tok)}', id="format-value"),
    pytest.param("${format(var.tok, 1)}", id="format-format"),
    pytest.param('${format(format("%s%%q", var.tok), 1)}', id="format-directive"),
    pytest.param("${join(var.tok, 5)}", id="join"),
    pytest.param("${var.name[var.tok]}", id="index-key"),
    pytest.param("${{a: 1}[var.tok]}", id="map-index"),
    pytest.param("${[1][var.tok]}", id="list-index"),
    pytest.param("${jsonencode(var.tok, 1)}", id="arity"),
])
def test_no_secret_in_any_message(tmp_path: Path, expr: str) -> None:
    root = _project(tmp_path, {"content": expr}, {"t.tmpl": b"${lookup({}, s)}"})
    _, problems = _render(root)
    assert problems, "each expression must fail"
    assert all(CANARY not in p for p in problems), problems
    assert all("7f3a9" not in p for p in problems), problems


def test_a_value_built_from_a_secret_stays_secret(tmp_path: Path) -> None:
    root = _project(tmp_path, {
        "looked": '${lookup({k: var.tok}, "k")}',
        "joined": '${join("-", [var.tok, "x"])}',
        "formatted": '${format("%s!", var.tok)}',
        "templated": '${templatefile("t.tmpl", {s: var.tok})}',
    }, {"t.tmpl": b"<${s}>"})
    props, problems = _render(root)
    assert problems == []
    for key in ("looked", "joined", "formatted", "templated"):
        assert isinstance(props[key], Sensitive), key
    assert reveal(props["templated"]) == f"<{CANARY}>"


# --- 7. fuzzing: every failure is an EvalError with an offset -----------------------------


@pytest.mark.parametrize("text", [
    pytest.param("${" + "(" * 10_000, id="parens-unclosed"),
    pytest.param("${" + "(" * 10_000 + "}", id="parens"),
    pytest.param("${" + "[" * 10_000 + "}", id="brackets-unclosed"),
    pytest.param("${" + "[" * 10_000 + "]" * 10_000 + "}", id="brackets"),
    pytest.param("${" + "{a: " * 10_000 + "1" + "}" * 10_001, id="maps"),
    pytest.param("${" + "join(" * 10_000 + ")" * 10_000 + "}", id="calls"),
    pytest.param("${var.name" + "[var.name" * 10_000 + "]" * 10_000 + "}", id="indexes"),
    pytest.param("${", id="bare-open"),
    pytest.param("x ${ y", id="unclosed"),
    pytest.param('${"' + "a" * 100_000, id="unclosed-string"),
    pytest.param("${" + " " * 1_000_000 + "x x}", id="long-blank"),
    pytest.param("${" + "a." * 200_000 + "}", id="long-path"),
    pytest.param("${" + "1," * 200_000 + "}", id="many-tokens"),
])
def test_deep_or_broken_expressions_fail_cleanly(tmp_path: Path, text: str) -> None:
    start = time.monotonic()
    error = _error(text, _scope(tmp_path, name="web"))
    assert time.monotonic() - start < 5
    assert isinstance(error.offset, int) and 0 <= error.offset <= len(text)
    assert len(str(error)) < 400


_ATOMS = ['"a"', "1", "2.5", "true", "null", "var.name", "var.tok", "var.list", "var.map",
          "[1, 2]", "{a: 1}", "each.key", "count.index", "x.y", "var.map.a", "var.list[0]"]
_FNS = ["format", "join", "lookup", "file", "filebase64", "jsonencode", "base64encode",
        "sha256", "templatefile", "nope"]
_NOISE = ["(", ")", "[", "]", "{", "}", ",", ":", ".", "*", '"', "${", "$", "=", " "]


def _random_expr(rng: random.Random, depth: int) -> str:
    roll = rng.random()
    if depth > 6 or roll < 0.35:
        return rng.choice(_ATOMS)
    if roll < 0.7:
        args = ", ".join(_random_expr(rng, depth + 1) for _ in range(rng.randint(0, 3)))
        return f"{rng.choice(_FNS)}({args})"
    if roll < 0.85:
        return "[" + ", ".join(_random_expr(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    return "{k: " + _random_expr(rng, depth + 1) + "}"


def _mangle(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 3)):
        chars.insert(rng.randint(0, len(chars)), rng.choice(_NOISE))
    return "".join(chars)


@pytest.mark.parametrize("seed", range(4))
def test_random_expressions_fail_only_with_eval_errors(tmp_path: Path, seed: int) -> None:
    (tmp_path / "t.tmpl").write_text("${var}")
    scope = _scope(tmp_path, name="web", tok=Sensitive(CANARY), list=[1, "b"], map={"a": 1})
    rng = random.Random(seed)
    for _ in range(500):
        text = "p-${" + _mangle(rng, _random_expr(rng, 0)) + "}-s"
        try:
            resolve_string(text, scope)
        except EvalError as exc:
            assert 0 <= exc.offset <= len(text), text
            assert CANARY not in str(exc) and CANARY not in (exc.hint or ""), text


@pytest.mark.parametrize("expr", [
    pytest.param('${format("%d", var.n)}', id="format-d"),
    pytest.param('${format("%s", var.n)}', id="format-s"),
    pytest.param("x${var.n}", id="interpolation"),
    pytest.param("${jsonencode(var.m)}", id="jsonencode"),
    pytest.param('${join(",", [var.n])}', id="join"),
    pytest.param("${sha256(var.n)}", id="sha256"),
])
def test_an_integer_too_long_to_print_is_an_error(tmp_path: Path, expr: str) -> None:
    big = 10**5000  # only a provider or state could hand one over; str() of it raises
    error = _error(expr, _scope(tmp_path, n=big, m={"a": big}))
    assert "5000" in str(error) or "too long" in str(error)


def test_a_python_recursion_error_becomes_an_eval_error(tmp_path: Path) -> None:
    calls = "jsonencode(" * 28 + 'templatefile("t{}.tmpl", {{x: 1}})' + ")" * 28
    for i in range(10):
        (tmp_path / f"t{i}.tmpl").write_text("${" + calls.format(i + 1) + "}")
    margin = sys.getrecursionlimit() - len(inspect.stack()) - 120

    def deep(n: int) -> EvalError:
        return deep(n - 1) if n else _error('${templatefile("t0.tmpl", {x: 1})}',
                                            _scope(tmp_path))

    error = deep(margin)
    assert str(error) == "the expression nests too deeply"


@pytest.mark.parametrize("key", ["²", "0x1", "1 "])
def test_a_list_index_that_is_not_plain_digits_is_an_error_not_a_crash(
        tmp_path: Path, key: str) -> None:
    """``isdigit`` accepts "²", which ``int`` refuses: such a key reads as a map key,
    and on a list that is a clear evaluation error."""
    scope = Scope(variables={"l": ["a", "b"]}, base_dir=tmp_path, root=tmp_path,
                  policy=Policy())
    with pytest.raises(EvalError):
        resolve_string(f'${{var.l["{key}"]}}', scope)
    assert resolve_string('${var.l["1"]}', scope) == "b"
