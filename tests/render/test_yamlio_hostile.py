"""The YAML loader on hostile input: a pull request's file must never hang,
exhaust memory or end in a traceback; every refusal is located and names
the limit the operator can raise."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import Problem, RenderError
from driftless.model.policy import Limits, limit_hint
from driftless.render.yamlio import (
    LocDict,
    LocList,
    YamlCache,
    key_where,
    load_yaml_text,
    where,
)

ROOT = Path(__file__).resolve().parents[2]
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True))


def _problems(text: str, limits: Limits | None = None) -> tuple[Problem, ...]:
    """The problems loading ``text`` reports (failing the test when it loads)."""
    with pytest.raises(RenderError) as caught:
        load_yaml_text(text, "f.yaml", limits=limits)
    return caught.value.problems


def _only(text: str, limits: Limits | None = None) -> Problem:
    problems = _problems(text, limits)
    assert len(problems) == 1, problems
    return problems[0]


def _at(text: str, problem: Problem) -> str:
    """The text from the problem's line and column on (1-based, lines split on \\n)."""
    assert problem.line is not None and problem.column is not None
    return text.split("\n")[problem.line - 1][problem.column - 1:]


# --- aliases -----------------------------------------------------------------

def test_billion_laughs_is_refused_in_milliseconds_at_the_alias() -> None:
    start = time.perf_counter()
    problem = _only(LAUGHS)
    assert time.perf_counter() - start < 0.1
    assert "yaml_alias_nodes" in problem.message and "100000" in problem.message
    assert problem.hint == limit_hint("yaml_alias_nodes")
    assert problem.file == "f.yaml"
    assert _at(LAUGHS, problem).startswith("*")


@pytest.mark.parametrize(("limit", "refused"), [(7, True), (8, False)],
                         ids=["two-aliases-of-4-nodes-over-7", "two-aliases-of-4-nodes-at-8"])
def test_alias_nodes_count_whole_expanded_subtrees(limit: int, refused: bool) -> None:
    text = "base: &b [1, 2, 3]\none: *b\ntwo: *b\n"
    limits = Limits(yaml_alias_nodes=limit)
    if refused:
        problem = _only(text, limits)
        assert (problem.line, problem.column) == (3, 6)  # the second alias
        assert f"yaml_alias_nodes ({limit})" in problem.message
    else:
        assert load_yaml_text(text, "f.yaml", limits=limits)["two"] == [1, 2, 3]


def test_nested_aliases_count_what_they_expand_to() -> None:
    text = "a: &a [1, 2]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    # *a twice (3 nodes each) inside b, then *b twice (7 nodes each) = 20
    assert load_yaml_text(text, "f.yaml", limits=Limits(yaml_alias_nodes=20))["c"][1][1] == [1, 2]
    problem = _only(text, Limits(yaml_alias_nodes=19))
    assert (problem.line, problem.column) == (3, 9)


def test_shared_anchors_still_load_with_their_locations() -> None:
    text = "base: &base {image: web, replicas: 2}\nstage: *base\nprod: *base\n"
    doc = load_yaml_text(text, "f.yaml")
    assert doc["stage"] == doc["prod"] == {"image": "web", "replicas": 2}
    assert doc["prod"].locs["replicas"] == ("f.yaml", 1, 36)
    assert key_where(doc, "prod") == ("f.yaml", 3, 1)
    assert where(doc, "prod") == ("f.yaml", 1, 7)  # an alias's value is where its anchor is


def test_a_star_in_text_without_anchors_is_not_an_alias() -> None:
    doc = load_yaml_text('cron: "*/5 * * * *"\nurl: "a?x=1&y=2"\nglob: "*.txt"\n', "f.yaml")
    assert doc["cron"] == "*/5 * * * *"


@pytest.mark.parametrize("text", [
    "a: &x [1, *x]\n",
    "a: &x {b: *x}\n",
    "a: &x [[1, [2, *x]]]\n",
    "a: &x {*x : 1}\n",
], ids=["list-holds-itself", "map-holds-itself", "deep-inside-itself", "key-is-itself"])
def test_an_alias_inside_its_own_anchor_is_refused(text: str) -> None:
    problem = _only(text)
    assert "alias '*x' is inside the map or list it names" in problem.message
    assert _at(text, problem).startswith("*x")


# --- nesting depth -------------------------------------------------------------

@pytest.mark.parametrize(("text", "column"), [
    ("[" * 100_000, 101),
    ("[" * 101 + "]" * 101 + "\n", 101),
    ("{a: " * 100_000, 401),
    ("- " * 100_000 + "x\n", 201),
    ("a:\n" + "".join(" " * i + "- \n" for i in range(1, 200)), None),
], ids=["100000-open-brackets", "101-closed-brackets", "100000-flow-maps",
        "100000-block-dashes", "200-indented-lines"])
def test_nesting_past_yaml_depth_is_refused_where_it_goes_too_deep(
        text: str, column: int | None) -> None:
    start = time.perf_counter()
    problem = _only(text)
    assert time.perf_counter() - start < 1
    assert problem.message == "maps and lists nested deeper than the limit yaml_depth (100)"
    assert problem.hint == limit_hint("yaml_depth")
    if column is not None:
        assert (problem.line, problem.column) == (1, column)
    else:
        assert problem.line == 101


def test_nesting_at_yaml_depth_loads() -> None:
    doc = load_yaml_text("[" * 100 + "1" + "]" * 100, "f.yaml")
    for _ in range(99):
        doc = doc[0]
    assert doc == [1]


def test_aliases_count_toward_depth() -> None:
    text = "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 50 + "*a" + "]" * 50 + "\n"
    assert "yaml_depth (100)" in _only(text).message


@pytest.mark.parametrize("text", [
    "[" * 999 + "]" * 999,
    "- " * 990 + "[" * 990 + "]" * 990 + "\n",
], ids=["999-brackets", "990-dashes-then-990-brackets"])
def test_nesting_the_process_cannot_hold_is_an_error_even_with_a_high_limit(text: str) -> None:
    problem = _only(text, Limits(yaml_depth=100_000))
    assert "nested" in problem.message


# --- file size and encoding ------------------------------------------------------

def test_a_file_over_file_bytes_is_refused_before_decoding_or_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: [\xff" + b"x" * 20)  # neither UTF-8 nor YAML: never looked at
    with pytest.raises(RenderError) as caught:
        YamlCache().load(path, name="big.yaml", limits=Limits(file_bytes=16))
    (problem,) = caught.value.problems
    assert problem.message == "file is 25 bytes, over the limit file_bytes (16 bytes)"
    assert problem.hint == limit_hint("file_bytes")


def test_a_file_at_file_bytes_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(b"a: 1\n")
    assert YamlCache().load(path, name="ok.yaml", limits=Limits(file_bytes=5)) == {"a": 1}


def test_text_over_file_bytes_is_refused() -> None:
    assert "file_bytes (4 bytes)" in _only("a: 12345\n", Limits(file_bytes=4)).message


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(RenderError, match="not a regular file"):
        YamlCache().load(fifo, name="pipe.yaml")


def test_a_cached_document_is_rechecked_under_stricter_limits(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("a: &a [1, 2, 3]\nb: *a\n")
    cache = YamlCache()
    assert cache.load(path, name="s.yaml")["b"] == [1, 2, 3]
    with pytest.raises(RenderError, match="yaml_alias_nodes"):
        cache.load(path, name="s.yaml", limits=Limits(yaml_alias_nodes=2))


@pytest.mark.parametrize(("data", "line", "column"), [
    (b"a: 1\nname: caf\xe9\n", 2, 10),
    (b"a: \xc3\xa9\xe2\x82\xac \xff\n", 1, 7),
    (b"a: 1\r\nb: 2\r\nc: \xc3", 3, 4),
    (b"\xff\xfea\x00:\x00", 1, 1),
    (b"\xef\xbb\xbfa: \x80", 1, 4),
], ids=["latin-1-letter", "after-multibyte-characters", "truncated-at-end-crlf",
        "utf-16-bom", "after-utf-8-bom"])
def test_non_utf8_is_an_error_at_the_first_bad_byte(
        tmp_path: Path, data: bytes, line: int, column: int) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    with pytest.raises(RenderError) as caught:
        YamlCache().load(path, name="bad.yaml")
    (problem,) = caught.value.problems
    assert problem.message == (
        f"not valid UTF-8 at line {line}, column {column}: save the file as UTF-8")
    assert (problem.file, problem.line, problem.column) == ("bad.yaml", line, column)


@pytest.mark.parametrize(("text", "code", "line", "column"), [
    ("a: b\x00c\n", "U+0000", 1, 5),
    ("a: 1\nb: x\x07\n", "U+0007", 2, 5),
    ("a: 1\n\x1b[31mred\n", "U+001B", 2, 1),
    ("a: \ufffe\n", "U+FFFE", 1, 4),
    ("a: 1\nb: \ud800\n", "U+D800", 2, 4),
    ("\ufeffa: \x00", "U+0000", 1, 4),
], ids=["nul", "bell", "escape-sequence", "non-character", "lone-surrogate", "after-bom"])
def test_characters_yaml_forbids_are_located(
        text: str, code: str, line: int, column: int) -> None:
    problem = _only(text)
    assert problem.message == f"character {code} is not allowed in YAML"
    assert (problem.line, problem.column) == (line, column)


# --- syntax errors ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "opener", "line", "column"), [
    ("a: [1, 2\nb: 3\n", "'['", 1, 4),
    ("a: [1, 2\n", "'['", 1, 4),
    ("x: 1\na: {b: 1\n", "'{'", 2, 4),
    ("a: [[1], [2\n", "'['", 1, 10),
    ("a: [1, {b: 2]\n", "'{'", 1, 8),
    ('x: 1\na: "hello\nb: 3\n', "'\"'", 2, 4),
    ("a: 'hello\nb: 3\n", '"\'"', 1, 4),
    ('a: "x\n---\n', "'\"'", 1, 4),
    ("é: [1\n", "'['", 1, 4),
], ids=["sequence-before-more-keys", "sequence-at-end", "mapping", "inner-sequence",
        "mapping-closed-by-bracket", "double-quote", "single-quote", "quote-into-document-end",
        "after-multibyte-key"])
def test_unclosed_brackets_and_quotes_are_reported_where_they_open(
        text: str, opener: str, line: int, column: int) -> None:
    problem = _only(text)
    assert problem.message.startswith(f"YAML syntax error: unclosed {opener} opened here (")
    assert (problem.line, problem.column) == (line, column)
    assert line <= text.count("\n")  # never past the end of the file


@pytest.mark.parametrize(("text", "message", "line", "column"), [
    ("a:\n  b: 1\n c: 2\n", "did not find expected key", 3, 2),
    ("a: b: c\n", "mapping values are not allowed in this context", 1, 5),
    ("a: *nope\n", "found undefined alias", 1, 4),
    ("a: 1\n---\nb: 2\n", "but found another document", 2, 1),
    ("a: [1, 2]]\n", "did not find expected key", 1, 10),
], ids=["bad-indent", "colon-in-plain-value", "undefined-alias", "two-documents",
        "extra-bracket"])
def test_other_syntax_errors_keep_their_position(
        text: str, message: str, line: int, column: int) -> None:
    problem = _only(text)
    assert problem.message == f"YAML syntax error: {message}"
    assert (problem.line, problem.column) == (line, column)


@pytest.mark.parametrize(("text", "message"), [
    ("a: !!int foo\n", "'foo' is not a valid !!int"),
    ("a: !!int ''\n", "'' is not a valid !!int"),
    ("a: !!float x\n", "'x' is not a valid !!float"),
    ("a: !!bool maybe\n", "'maybe' is not a valid !!bool"),
    ("a: " + "9" * 5000 + "\n", f"number '{'9' * 37}...' has more than 4300 digits"),
], ids=["int-word", "int-empty", "float-word", "bool-word", "5000-digit-integer"])
def test_scalars_that_have_no_value_are_located(text: str, message: str) -> None:
    problem = _only(text)
    assert problem.message.startswith(message)
    assert (problem.line, problem.column) == (1, 4)


def test_every_bad_scalar_is_reported_at_once() -> None:
    assert [p.line for p in _problems("a: !!int x\nb: 1\nc: !!bool y\n")] == [1, 3]


@pytest.mark.parametrize("text", ["0x_", "0o_", "0x__"], ids=["0x_", "0o_", "0x__"])
def test_a_radix_prefix_without_digits_is_text(text: str) -> None:
    assert load_yaml_text(f"a: {text}\n", "f.yaml") == {"a": text}


# --- duplicate keys and key locations -------------------------------------------------

def test_a_duplicate_key_names_the_line_of_the_first_key() -> None:
    problem = _only("a:\n  x: 1\nb: 2\na:\n  y: 2\n")
    assert problem.message == "duplicate key 'a' (first written at line 1)"
    assert (problem.line, problem.column) == (4, 1)


def test_key_locations_point_at_the_keys() -> None:
    doc = load_yaml_text("stacks:\n  - app\nname:   demo\n'quoted': {inner: 1}\n", "f.yaml")
    assert isinstance(doc, LocDict)
    assert doc.key_locs == {"stacks": ("f.yaml", 1, 1), "name": ("f.yaml", 3, 1),
                            "quoted": ("f.yaml", 4, 1)}
    assert key_where(doc, "stacks") == ("f.yaml", 1, 1)
    assert where(doc, "stacks") == ("f.yaml", 2, 3)
    assert key_where(doc["quoted"], "inner") == ("f.yaml", 4, 12)


def test_key_where_falls_back_when_key_locations_are_missing() -> None:
    doc = load_yaml_text("a:\n  b: 1\n", "f.yaml")
    copy = LocDict(doc)  # as an overlay copies a map: value locations only
    copy.loc, copy.locs = doc.loc, dict(doc.locs)
    assert key_where(copy, "a") == ("f.yaml", 2, 3)
    assert key_where(copy, "zzz") == ("f.yaml", 1, 1)
    assert key_where(LocList([1]), "0") is None
    assert key_where({"a": 1}, "a") is None


# --- fuzzing -----------------------------------------------------------------------------

def _seed_files() -> list[bytes]:
    paths = sorted(ROOT.glob("tests/cases/*/input/**/*.yaml")) + sorted(
        ROOT.glob("examples/**/*.yaml"))
    return [p.read_bytes() for p in paths]


_SNIPPETS = [b"[", b"{", b"]", b"}", b'"', b"'", b"&a ", b"*a", b"\x00", b"\xff", b"\xc3",
             b": ", b"- ", b"\t", b"\r", b"!!int ", b"!!bool ", b"? ", b"|", b"---\n", b"%"]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """A truncation, byte flip, inserted YAML indicator or duplicated slice."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(out) + 1)
        choice = rng.random()
        if choice < 0.25:
            del out[at:]
        elif choice < 0.5 and out:
            out[min(at, len(out) - 1)] = rng.randrange(256)
        elif choice < 0.8:
            out[at:at] = rng.choice(_SNIPPETS)
        else:
            out[at:at] = out[rng.randrange(at + 1):at][:100]
    return bytes(out)


def test_mutated_project_files_load_or_fail_with_a_located_error(tmp_path: Path) -> None:
    rng = random.Random(20240611)
    seeds = _seed_files()
    assert seeds
    path = tmp_path / "f.yaml"
    failures: list[Any] = []
    for _ in range(1500):
        path.write_bytes(_mutate(rng.choice(seeds), rng))
        try:
            YamlCache().load(path, name="f.yaml")
        except RenderError as exc:
            failures.extend(p for p in exc.problems if p.line is None or p.file != "f.yaml")
    assert failures == []


@pytest.mark.parametrize("alias", ['{"k":*a}', "[*a]", "{k: [1,*a]}", "\t*a", "[? *a : 1]"],
                         ids=["after-json-colon", "after-bracket", "after-comma", "after-tab",
                              "after-flow-key-indicator"])
def test_aliases_wherever_a_token_starts_are_counted(alias: str) -> None:
    text = f"a: &a [1, 2, 3]\nb: {alias}\n"
    assert "yaml_alias_nodes (3)" in _only(text, Limits(yaml_alias_nodes=3)).message


def test_a_bomb_behind_thousands_of_harmless_stars_is_still_counted() -> None:
    text = "note: '" + "x*" * 5000 + "'\n" + LAUGHS
    start = time.perf_counter()
    assert "yaml_alias_nodes" in _only(text).message
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("value", ['"' + "x" * 1_000_000 + '"', '"${x}' + "y" * 1_000_000 + '"',
                                   "1" * 1_000_000 + "x"],
                         ids=["quoted-megabyte", "quoted-megabyte-expression", "plain-megabyte"])
def test_thousands_of_aliases_of_a_long_string_load_fast_and_share_it(value: str) -> None:
    text = f"big: &b {value}\nl: [" + ", ".join("*b" for _ in range(5000)) + "]\n"
    start = time.perf_counter()
    doc = load_yaml_text(text, "f.yaml")
    assert time.perf_counter() - start < 1
    assert all(item is doc["big"] for item in doc["l"])
