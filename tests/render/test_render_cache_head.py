"""A render cache entry's checks are read from its own sealed head: a changed
input is found without sealing or decoding the (large) body, and a body that
is not the one the head sealed is never used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftless.model import DesiredStack
from driftless.render import RenderOptions, load_project, render_stack
from driftless.render.cache import CACHE_DIR, RenderCache

STACK = """\
resources:
  f:
    type: local:file
    count: 3
    properties:
      path: "/tmp/driftless-head-test/f${count.index}"
      content: "%s ${count.index}"
"""


def _project(root: Path, content: str) -> None:
    (root / "stacks/app").mkdir(parents=True, exist_ok=True)
    (root / "driftless.yaml").write_text("project: head\nstacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(STACK % content)


def _render(root: Path) -> DesiredStack:
    cache = RenderCache.for_project(root)
    assert cache is not None
    got = cache.render_stack(cache.load_project(root), "app", RenderOptions())
    assert got == render_stack(load_project(root), "app", RenderOptions())
    return got


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The entries whose body was sealed and decoded on lookup."""
    seen: list[str] = []
    real = RenderCache._body

    def body(self: RenderCache, data: memoryview, start: int, tag: bytes) -> Any:
        found = real(self, data, start, tag)
        seen.append("used" if found is not None else "refused")
        return found
    monkeypatch.setattr(RenderCache, "_body", body)
    return seen


def test_a_changed_input_never_reads_the_body(tmp_path: Path, bodies: list[str]) -> None:
    _project(tmp_path, "one")
    _render(tmp_path)
    assert bodies == []  # nothing stored yet
    _render(tmp_path)
    assert bodies == ["used", "used"]  # the project's entry and the stack's
    _project(tmp_path, "two")
    changed = _render(tmp_path)
    assert bodies == ["used", "used"]  # both entries read the stack file: two misses
    assert changed.resources[0].properties["content"] == "two 0"


def test_a_body_the_head_did_not_seal_is_refused(tmp_path: Path, bodies: list[str]) -> None:
    _project(tmp_path, "one")
    first = _render(tmp_path)
    for entry in (tmp_path / CACHE_DIR).glob("*.bin"):
        data = entry.read_bytes()
        entry.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert _render(tmp_path) == first
    assert bodies == ["refused", "refused"]
    assert _render(tmp_path) == first
    assert bodies[2:] == ["used", "used"]
