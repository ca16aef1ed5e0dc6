"""A render pauses the cyclic collector and always turns it back on: after a
good render, a failed one and a cached one alike."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from driftless.errors import RenderError
from driftless.render import RenderOptions, load_project, render_stack
from driftless.render.cache import RenderCache


def _project(root: Path, stack: str) -> Path:
    (root / "stacks/app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: gc\nstacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(stack)
    return root


GOOD = """\
resources:
  f:
    type: local:file
    count: 2
    properties: {path: "/tmp/driftless-gc-test/f${count.index}", content: x}
"""


def test_the_collector_is_on_after_a_render(tmp_path: Path) -> None:
    root = _project(tmp_path, GOOD)
    assert gc.isenabled()
    render_stack(load_project(root), "app", RenderOptions())
    assert gc.isenabled()
    cache = RenderCache.for_project(root)
    assert cache is not None
    for _ in range(2):  # a miss, then a hit
        cache.render_stack(cache.load_project(root), "app", RenderOptions())
        assert gc.isenabled()


def test_the_collector_is_on_after_a_failed_render(tmp_path: Path) -> None:
    root = _project(tmp_path, "resources:\n  f: {type: local:file, properties: '${nope}'}\n")
    with pytest.raises(RenderError):
        render_stack(load_project(root), "app", RenderOptions())
    assert gc.isenabled()


def test_a_render_leaves_a_paused_collector_paused(tmp_path: Path) -> None:
    root = _project(tmp_path, GOOD)
    gc.disable()
    try:
        render_stack(load_project(root), "app", RenderOptions())
        assert not gc.isenabled()
    finally:
        gc.enable()
