"""A document without aliases is built from the parser's events, without a node tree.

For every clean document the values, their types and every recorded location
are exactly those of the node builder; anything the node builder reports or
handles itself (an error, a problem, a tag, an anchor, a second document, too
deep a nesting) is left to it, so load gives what it always gave.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import RenderError
from driftless.model.policy import Limits
from driftless.render import yamlio
from driftless.render.yamlio import load_yaml_text
from yaml_shapes import shape

ROOT = Path(__file__).resolve().parents[2]

CLEAN = [
    "",
    "# only a comment\n",
    "---\n",
    "a: 1\nb: [x, {c: 2, d: [3, 4]}]\ne: {f: 'q ${var.x}', g: null, h: true}\n",
    "- 1\n- [a, b, [c, [d]]]\n- {k: v}\n- ''\n- ~\n- -3.5e2\n- 0x1F\n- 0o17\n- 1_000\n",
    "? [complex, key]\n: value\n? {a: 1}\n: other\nplain: 1.5\nquoted: \"2\"\n",
    "block: |\n  line one\n  ${var.x}\nfolded: >\n  a\n  b\nempty:\nyes: no\non: off\n",
    "\"quoted key\": 'single ${x}'\nunicode: \"\u00e9\u2713\U0001f600\"\ntab: \"a\\tb\"\n",
    "a:\r\n  b: c\r\n  d: [1, 2]\r\n",
    "nested: {a: {b: {c: {d: {e: [1, [2, [3]]]}}}}}\n",
    "long: " + "x" * 5000 + "\nlist: [" + ", ".join(["y" * 300] * 3) + "]\n",
    "globs: ['*.txt', s3:*, '0 * * * *']\nstar: a*b\n",
    "resources:\n" + "".join(f"  r{i}:\n    type: local:file\n    properties:\n"
                              f"      path: /tmp/{i}\n      content: \"{i} ${{var.body}}\"\n"
                              f"      mode: '0644'\n      make_parents: true\n"
                              for i in range(200)),
]

LEFT_TO_NODES = [
    "a: 1\na: 2\n",  # a duplicate key
    "n: !!int nope\n",  # a bad tagged scalar
    "n: !!int '7'\n",  # an explicit tag
    "a: &x 1\nb: 2\n",  # an anchor (no alias)
    "a: 1\n---\nb: 2\n",  # a second document
    "a: [1, 2\n",  # a syntax error
    "n: " + "9" * 5000 + "\n",  # too many digits
    "a: *x\n",  # an alias that was never anchored
    "[" * 200 + "]" * 200 + "\n",  # deeper than yaml_depth
]


def _by_nodes(text: str) -> Any:
    limits = Limits()
    node = yamlio._compose(text, "s.yaml", limits)
    return None if node is None else yamlio._build(node, "s.yaml", limits, consume=True)


def _outcome(load: Any, text: str) -> Any:
    try:
        return ("value", shape(load(text)))
    except RenderError as exc:
        return ("error", [(p.message, p.file, p.line, p.column) for p in exc.problems])


@pytest.mark.parametrize("text", CLEAN)
def test_a_clean_document_is_built_from_events_exactly(text: str) -> None:
    built, doc = yamlio._from_events(text, "s.yaml", Limits())
    assert built
    assert shape(doc) == shape(_by_nodes(text))


@pytest.mark.parametrize("text", LEFT_TO_NODES)
def test_what_the_node_builder_reports_is_left_to_it(text: str) -> None:
    assert yamlio._from_events(text, "s.yaml", Limits()) == (False, None)
    assert _outcome(lambda t: load_yaml_text(t, "s.yaml"), text) == _outcome(_by_nodes, text)


def test_every_yaml_file_of_the_repository_loads_the_same() -> None:
    files = [p for p in ROOT.glob("**/*.yaml") if ".venv" not in p.parts][:400]
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        if yamlio.may_alias(text):
            continue
        loaded = _outcome(lambda t: load_yaml_text(t, "s.yaml"), text)
        assert loaded == _outcome(_by_nodes, text), path


def test_random_documents_load_the_same() -> None:
    rnd = random.Random(12)
    words = ["a", "b c", "'q'", '"d ${x}"', "1", "-2.5", "null", "true", "~", "0x1f", "''",
             "${var.y}", "é", "[1, 2]", "{k: v}", "? x"]

    def block(depth: int, indent: int) -> str:
        pad = " " * indent
        out = []
        for i in range(rnd.randint(1, 4)):
            if depth < 3 and rnd.random() < 0.3:
                out.append(f"{pad}k{i}:\n" + block(depth + 1, indent + 2))
            elif depth < 3 and rnd.random() < 0.2:
                out.append(f"{pad}l{i}:\n" + "".join(
                    f"{pad}  - {rnd.choice(words)}\n" for _ in range(rnd.randint(0, 3))))
            else:
                out.append(f"{pad}k{i}: {rnd.choice(words)}\n")
        return "".join(out)

    for _ in range(300):
        text = block(0, 0)
        loaded = _outcome(lambda t: load_yaml_text(t, "s.yaml"), text)
        assert loaded == _outcome(_by_nodes, text), text
