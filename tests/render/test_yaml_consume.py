"""A document without aliases is built while its node tree is let go (``consume``).

The values, every recorded location and every problem must be exactly those
of the build that keeps the tree; a document that may hold aliases is never
consumed (an anchored node is built again for each alias).
"""

from __future__ import annotations

from typing import Any

import pytest

from driftless.errors import RenderError
from driftless.model.policy import Limits
from driftless.render import yamlio
from driftless.render.yamlio import load_yaml_text
from yaml_shapes import shape

DOCS = [
    "a: 1\nb: [x, {c: 2, d: [3, 4]}]\ne: {f: 'q ${var.x}', g: null, h: true}\n",
    "resources:\n" + "".join(f"  r{i}:\n    type: local:file\n    properties:\n"
                              f"      path: /tmp/{i}\n      content: \"{i}\"\n" for i in range(50)),
    "- 1\n- [a, b, [c, [d]]]\n- {k: v}\n- ''\n",
    "long: " + "x" * 5000 + "\nlist: [" + ", ".join(["y" * 300] * 3) + "]\n",
    "? [complex, key]\n: value\nplain: 1.5\nquoted: \"2\"\n",
]


def _node(text: str) -> Any:
    node = yamlio._compose(text, "s.yaml", Limits())
    assert node is not None
    return node


def _both(text: str) -> tuple[Any, Any]:
    limits = Limits()
    built = []
    for consume in (False, True):
        node = _node(text)
        built.append(shape(yamlio._build(node, "s.yaml", limits, consume=consume)))
    return built[0], built[1]


@pytest.mark.parametrize("text", DOCS)
def test_the_consuming_build_gives_the_same_values_and_locations(text: str) -> None:
    kept, consumed = _both(text)
    assert kept == consumed
    assert shape(load_yaml_text(text, "s.yaml")) == kept  # the path load takes


def test_problems_are_the_same() -> None:
    text = "a: 1\nb: 2\na: 3\nn: !!int nope\n"
    found = []
    for consume in (False, True):
        node = _node(text)
        with pytest.raises(RenderError) as exc:
            yamlio._build(node, "s.yaml", Limits(), consume=consume)
        found.append([(p.message, p.line, p.column) for p in exc.value.problems])
    assert found[0] == found[1] and len(found[0]) == 2


def test_a_document_with_aliases_is_not_consumed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real = yamlio._build

    def spy(node: Any, name: str, limits: Limits, *, consume: bool = False) -> Any:
        seen.append(consume)
        return real(node, name, limits, consume=consume)

    monkeypatch.setattr(yamlio, "_build", spy)
    doc = load_yaml_text("base: &b {x: 1, y: [1, 2]}\none: *b\ntwo: *b\n", "s.yaml")
    assert seen == [False]
    assert doc["one"] == doc["two"] == {"x": 1, "y": [1, 2]}
    load_yaml_text("plain: 1\n", "s.yaml")
    assert seen == [False]  # built from the parser's events, no node tree (test_yaml_events)
    assert load_yaml_text("n: !!int '7'\n", "s.yaml") == {"n": 7}  # a tag: left to the nodes
    assert seen == [False, True]
