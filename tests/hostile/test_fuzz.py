"""Property-based mutation of the golden cases' inputs (tests/cases/*/input).

Each example takes one golden project, mutates one of its files (truncation,
byte flips, an inserted YAML alias bomb, deep nesting, hostile resource and
for_each names, random bytes) and renders it **in-process** through the
public API (``load_project``, ``stack_order``, ``render_stack``). It must
either return a result or raise a ``DriftlessError``; a ``RenderError`` must
give every problem a location (a file, or the operator input such as
``--var``). Anything else (RecursionError, TypeError, MemoryError, ...) or
more than 2 s for one example fails. Deterministic (``derandomize=True``, no
example database); 1,450 examples in total. Shrinking is off so a failure is
reported fast; the failing mutation is printed.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from driftless.errors import DriftlessError, RenderError
from driftless.render import RenderOptions, load_project, render_stack, stack_order

CASES = Path(__file__).resolve().parent.parent / "cases"


def _golden() -> list[tuple[str, dict[str, bytes], dict[str, Any]]]:
    out = []
    for case in sorted(d for d in CASES.iterdir() if (d / "input").is_dir()):
        root = case / "input"
        files = {str(p.relative_to(root)): p.read_bytes()
                 for p in sorted(root.rglob("*")) if p.is_file()}
        conf = case / "case.yaml"
        settings_ = (yaml.safe_load(conf.read_text()) or {}) if conf.exists() else {}
        out.append((case.name, files, settings_))
    return out


GOLDEN = _golden()
COUNTER = itertools.count()

FAST = settings(deadline=2000, derandomize=True, database=None,
                phases=(Phase.explicit, Phase.generate),
                suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def render(root: Path, conf: Mapping[str, Any]) -> None:
    """Render every stack of the project at ``root``; only DriftlessError may escape."""
    try:
        project = load_project(root)
        options = RenderOptions(
            env=conf.get("env"),
            variables={k: str(v) for k, v in (conf.get("vars") or {}).items()},
            var_files=tuple(root / f for f in conf.get("var_files") or ()),
            environ=conf.get("environ") or {})
        for name in stack_order(project):
            render_stack(project, name, options, stack_outputs=conf.get("stack_outputs") or {})
    except RenderError as exc:
        unplaced = [str(p) for p in exc.problems if not p.file]
        assert not unplaced, f"problems without a location: {unplaced[:3]}"
    except DriftlessError:
        pass


def run(workdir: Path, case: int, mutate: Callable[[dict[str, bytes]], str]) -> None:
    name, files, conf = GOLDEN[case]
    files = dict(files)
    what = mutate(files)
    note(f"golden case {name}: {what}")
    root = workdir / str(next(COUNTER))
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    try:
        render(root, conf)
    finally:
        shutil.rmtree(root, ignore_errors=True)


case_index = st.integers(0, len(GOLDEN) - 1)


def _pick(files: Mapping[str, bytes], k: int) -> str:
    names = sorted(files)
    return names[k % len(names)]


# --------------------------------------------------------------------------- mutations


@settings(FAST, max_examples=250)
@given(case=case_index, which=st.integers(0, 99), frac=st.floats(0, 1))
def test_truncation(workdir: Path, case: int, which: int, frac: float) -> None:
    def mutate(files: dict[str, bytes]) -> str:
        rel = _pick(files, which)
        cut = int(len(files[rel]) * frac)
        files[rel] = files[rel][:cut]
        return f"{rel} truncated to {cut} bytes"
    run(workdir, case, mutate)


@settings(FAST, max_examples=400)
@given(case=case_index, which=st.integers(0, 99),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_flips(workdir: Path, case: int, which: int,
                    flips: list[tuple[float, int]]) -> None:
    def mutate(files: dict[str, bytes]) -> str:
        rel = _pick(files, which)
        data = bytearray(files[rel])
        if not data:
            return f"{rel} is empty"
        done = []
        for at, value in flips:
            i = min(int(at * len(data)), len(data) - 1)
            done.append((i, data[i], value))
            data[i] = value
        files[rel] = bytes(data)
        return f"{rel} bytes (offset, old, new): {done}"
    run(workdir, case, mutate)


BOMBS = [
    "&a0 [x, x, x, x, x, x, x, x, x]",
    "{a: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]}",
]


def _alias_bomb(levels: int, width: int, indent: str) -> str:
    lines = [f"{indent}l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@settings(FAST, max_examples=150)
@given(case=case_index, which=st.integers(0, 99), line=st.floats(0, 1),
       levels=st.integers(2, 12), width=st.integers(2, 12),
       where=st.sampled_from(["top", "indented", "value"]))
def test_inserted_alias_bombs(workdir: Path, case: int, which: int, line: float, levels: int,
                              width: int, where: str) -> None:
    def mutate(files: dict[str, bytes]) -> str:
        rel = _pick(files, which)
        lines = files[rel].split(b"\n")
        at = int(line * len(lines))
        if where == "value":
            bomb = "bomb:\n" + _alias_bomb(levels, width, "  ") + f"use: *l{levels - 1}\n"
        else:
            bomb = _alias_bomb(levels, width, "" if where == "top" else "    ")
        lines.insert(at, bomb.encode().rstrip(b"\n"))
        files[rel] = b"\n".join(lines)
        return f"{rel}: {levels}x{width} alias bomb ({where}) at line {at}"
    run(workdir, case, mutate)


@settings(FAST, max_examples=150)
@given(case=case_index, which=st.integers(0, 99), line=st.floats(0, 1),
       depth=st.sampled_from([99, 100, 101, 1000, 10_000]),
       shape=st.sampled_from(["flow-list", "flow-map", "block", "expr-parens", "expr-list",
                              "expr-call"]))
def test_deep_nesting(workdir: Path, case: int, which: int, line: float, depth: int,
                      shape: str) -> None:
    def mutate(files: dict[str, bytes]) -> str:
        rel = _pick(files, which)
        lines = files[rel].split(b"\n")
        at = int(line * len(lines))
        if shape == "flow-list":
            text = "deep: " + "[" * depth + "]" * depth
        elif shape == "flow-map":
            text = "deep: " + "{a: " * depth + "1" + "}" * depth
        elif shape == "block":
            n = min(depth, 2000)
            text = "deep:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(n)) + \
                " " * (n + 1) + "v"
        elif shape == "expr-parens":
            text = "deep: \"${" + "(" * depth + "1" + ")" * depth + "}\""
        elif shape == "expr-list":
            text = "deep: \"${jsonencode(" + "[" * depth + "]" * depth + ")}\""
        else:
            text = "deep: \"${" + "sha256(" * depth + "\\\"x\\\"" + ")" * depth + "}\""
        lines.insert(at, text.encode())
        files[rel] = b"\n".join(lines)
        return f"{rel}: {shape} nesting of depth {depth} at line {at}"
    run(workdir, case, mutate)


HOSTILE_NAMES = ['""', '"../x"', '"a/b"', '"a\\"]b"', '"a\\nb"', '"\\u202e\\u200b"', '"a\\0b"',
                 '"${var.x}"', "null", "42", "[1, 2]", "{a: b}", '"' + "n" * 5000 + '"',
                 '"$${x}"', '"*"', '"[0]"', '"a.b"', "~", "!!binary AAEC", "&x y"]


@settings(FAST, max_examples=250)
@given(case=case_index, which=st.integers(0, 99), pick=st.integers(0, 10_000),
       name=st.sampled_from(HOSTILE_NAMES),
       target=st.sampled_from(["resource-name", "for-each-key", "any-key", "any-value"]))
def test_hostile_names(workdir: Path, case: int, which: int, pick: int, name: str,
                       target: str) -> None:
    def mutate(files: dict[str, bytes]) -> str:
        rel = _pick(files, which)
        lines = files[rel].decode("utf-8", "surrogateescape").split("\n")
        if target == "resource-name":
            # a 2-space key under resources: is a resource name
            cands = [i for i, ln in enumerate(lines) if ln.startswith("  ") and
                     not ln.startswith("   ") and ln.rstrip().endswith(":")]
        elif target == "for-each-key":
            lines.append(f"  fe{pick}:\n    type: local:file\n    for_each: [{name}, {name}]\n"
                         f"    properties: {{path: \"/tmp/x-${{each.key}}\"}}")
            files[rel] = "\n".join(lines).encode("utf-8", "surrogateescape")
            return f"{rel}: for_each over [{name}, {name}] appended"
        else:
            cands = [i for i, ln in enumerate(lines) if ":" in ln]
        if not cands:
            return f"{rel}: nothing to rename"
        i = cands[pick % len(cands)]
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        key, _, value = lines[i].strip().partition(":")
        if target == "any-value":
            lines[i] = f"{indent}{key}: {name}"
        else:
            lines[i] = f"{indent}{name}:{value}"
        files[rel] = "\n".join(lines).encode("utf-8", "surrogateescape")
        return f"{rel}: line {i + 1} is now {lines[i][:120]!r}"
    run(workdir, case, mutate)


@settings(FAST, max_examples=50)
@given(case=case_index, which=st.integers(0, 99), junk=st.binary(min_size=1, max_size=200),
       at=st.floats(0, 1))
def test_random_bytes(workdir: Path, case: int, which: int, junk: bytes, at: float) -> None:
    def mutate(files: dict[str, bytes]) -> str:
        rel = _pick(files, which)
        i = int(at * len(files[rel]))
        files[rel] = files[rel][:i] + junk + files[rel][i:]
        return f"{rel}: {junk!r} inserted at {i}"
    run(workdir, case, mutate)
