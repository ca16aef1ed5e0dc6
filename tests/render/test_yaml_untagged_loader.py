"""The loader that answers the C parser's tag questions from a table gives every node
the tag ``CBaseLoader`` gives it, and steps aside once a resolver is registered on
the base loader (then the resolver has its say)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from driftless.render import yamlio

DOC = """\
plain: word
number: 12
float: 1.5
empty:
quoted: "x"
single: 'y'
tagged: !!int "7"
nonspecific: ! 8
custom: !thing z
list: [a, 1, {k: v}, [], '']
block: |
  text
? [complex, key]
: value
anchor: &a {n: 1}
alias: *a
"""


def _tags(node: Any) -> Any:
    """Every node's kind and tag, in order (values are the parser's own)."""
    if isinstance(node, yaml.MappingNode):
        return ("M", node.tag, [(_tags(k), _tags(v)) for k, v in node.value])
    if isinstance(node, yaml.SequenceNode):
        return ("S", node.tag, [_tags(v) for v in node.value])
    return ("s", node.tag, node.value)


def test_every_node_gets_the_base_loaders_tag() -> None:
    yamlio._yaml()
    assert yamlio._LOADER is not yaml.CBaseLoader
    ours = yamlio._LOADER(DOC).get_single_node()
    theirs = yaml.CBaseLoader(DOC).get_single_node()
    assert _tags(ours) == _tags(theirs)


def test_a_registered_resolver_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml.CBaseLoader, "yaml_implicit_resolvers",
                        {"1": [("tag:example,2026:one", yaml.resolver.re.compile("1"))]},
                        raising=False)
    loader = yamlio._untagged_loader(yaml)
    assert loader is yaml.CBaseLoader
    node = loader("a: 1\n").get_single_node()
    assert node.value[0][1].tag == "tag:example,2026:one"
