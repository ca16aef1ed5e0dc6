"""Resources written out one by one (no ``count``/``for_each``): protect and the
dependencies found in their properties, through the real render.

The shortcuts taken for plain properties and a literal ``protect`` must give
what the full walk gives: references still become dependencies, a templated
``protect`` is still resolved, and a bad one is still reported at its line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.errors import RenderError
from driftless.model import Resource
from driftless.providers import ProviderSet
from driftless.render import RenderOptions, load_project, render_stack

STACK = """\
variables:
  keep: {type: boolean, default: true}
resources:
  a:
    type: local:file
    protect: true
    properties: {path: /tmp/t/a, content: "a"}
  b:
    type: local:file
    properties: {path: /tmp/t/b, content: "${a.sha256}", make_parents: true}
  c:
    type: local:file
    protect: ${var.keep}
    properties:
      path: /tmp/t/c
      content: "plain"
  d:
    type: local:file
    protect: false
    properties: {path: /tmp/t/d, content: "${var.keep}"}
"""


def _render(root: Path, stack: str) -> dict[str, Resource]:
    (root / "stacks/app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: t\nstacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(stack)
    desired = render_stack(load_project(root), "app", RenderOptions(environ={}))
    return {r.id.name: r for r in desired.resources}


def test_protect_and_dependencies(tmp_path: Path) -> None:
    res = _render(tmp_path, STACK)
    a, b, c, d = (res[n] for n in "abcd")
    assert (a.protect, b.protect, c.protect, d.protect) == (True, False, True, False)
    assert [str(x) for x in b.depends_on] == [str(a.id)]  # a reference in the properties
    assert a.depends_on == c.depends_on == d.depends_on == ()
    assert d.properties["content"] == "true"


def test_a_protect_that_is_not_a_bool_is_reported_at_its_line(tmp_path: Path) -> None:
    bad = STACK.replace("protect: ${var.keep}", "protect: yes please")
    with pytest.raises(RenderError) as exc:
        _render(tmp_path, bad)
    [problem] = exc.value.problems
    assert problem.message == "resource 'c': protect must be true or false"
    assert (problem.file, problem.line) == ("stacks/app/stack.yaml", 13)


def test_an_unknown_kind_is_reported_for_every_resource_of_it(tmp_path: Path) -> None:
    """Kinds found to exist are asked once; an unknown one is still reported each time."""
    stack = ("resources:\n"
             "  a: {type: local:file, properties: {path: /tmp/t/a, content: a}}\n"
             "  b: {type: local:nope, properties: {}}\n"
             "  c: {type: local:file, properties: {path: /tmp/t/c, content: c}}\n"
             "  d: {type: local:nope, properties: {}}\n")
    (tmp_path / "stacks/app").mkdir(parents=True)
    (tmp_path / "driftless.yaml").write_text("project: t\nstacks: [stacks/app]\n")
    (tmp_path / "stacks/app/stack.yaml").write_text(stack)
    with pytest.raises(RenderError) as exc:
        render_stack(load_project(tmp_path), "app", RenderOptions(environ={}),
                     kinds=ProviderSet())
    found = [(p.message.split(":")[0], p.line) for p in exc.value.problems
             if "has no kind" in p.message]
    assert found == [("resource 'b'", 3), ("resource 'd'", 5)]
