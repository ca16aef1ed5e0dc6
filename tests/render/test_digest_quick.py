"""The digest's quick writer gives the bytes of ``json.dumps``: strings that
need escaping, non-string keys, nested values and secrets included."""

from __future__ import annotations

import hashlib
import json
import random
from types import MappingProxyType
from typing import Any

from driftless.model import Resource, ResourceId, Sensitive
from driftless.render.digest import canonical, stack_digest

_CHARS = ["a", "b", "é", "✓", "😀", " ", "/", '"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f"]


def _definition(resources: list[Resource]) -> str:
    """The digest as one json.dumps of the whole document."""
    doc = {"stack": "s", "outputs": {}, "depends_on": [], "settings": {},
           "resources": [{"address": str(r.id), "properties": canonical(r.properties, {}),
                          "depends_on": [str(d) for d in r.depends_on],
                          "triggered_by": [str(t) for t in r.triggered_by],
                          "protect": r.protect} for r in resources]}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class _Maker:
    def __init__(self, seed: int, plain: bool) -> None:
        self.rnd = random.Random(seed)
        self.chars = _CHARS[:7] if plain else _CHARS

    def text(self) -> str:
        return "".join(self.rnd.choice(self.chars) for _ in range(self.rnd.randint(0, 5)))

    def value(self, depth: int = 0) -> Any:
        pick = self.rnd.random()
        if pick < 0.1:
            return self.rnd.choice([True, False, None, 0, -3, 1.5, 10**20])
        if pick < 0.15 and depth < 2:
            return {self.text(): self.value(depth + 1) for _ in range(2)}
        if pick < 0.2 and depth < 2:
            return [self.value(depth + 1), (self.text(), 1)]
        if pick < 0.22:
            return Sensitive(self.text())
        return self.text()

    def resource(self, i: int) -> Resource:
        index = self.rnd.choice([None, i, self.text()])
        props: Any = {self.text() if self.rnd.random() < 0.95 else self.rnd.choice([1, None]):
                      self.value() for _ in range(self.rnd.randint(0, 4))}
        if self.rnd.random() < 0.05:
            props = MappingProxyType(props)
        deps = tuple(ResourceId("local", "file", self.text())
                     for _ in range(self.rnd.randint(0, 2)))
        return Resource(ResourceId("local", "file", "n", index), props, deps,
                        self.rnd.random() < 0.3, None, deps[:1])


def test_the_quick_writer_gives_the_definitions_bytes() -> None:
    for seed in range(60):
        maker = _Maker(seed, plain=seed % 2 == 0)
        resources = [maker.resource(i) for i in range(maker.rnd.randint(0, 150))]
        assert stack_digest("s", resources, {}, [], {}, {}) == _definition(resources), seed


def test_one_escaped_string_anywhere_still_gives_the_definitions_bytes() -> None:
    base = [Resource(ResourceId("local", "file", "f", i), {"path": f"/f{i}", "on": True})
            for i in range(100)]
    for bad in ('"', "\\", "\n", "\x01"):
        for i in (0, 31, 32, 99):
            resources = list(base)
            resources[i] = Resource(resources[i].id, {"path": f"/f{bad}", "on": False})
            assert stack_digest("s", resources, {}, [], {}, {}) == _definition(resources)
