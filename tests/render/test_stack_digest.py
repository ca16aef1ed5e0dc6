"""The render digest is hashed piece by piece, to the bytes of one canonical JSON
document: saved plans and the agent compare digests across versions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from driftless.model import Resource, ResourceId, Sensitive
from driftless.render.digest import canonical, stack_digest


def _whole(name: str, resources: list[Resource], outputs: dict[str, Any],
           depends_on: list[str], settings: dict[str, Any]) -> str:
    """The digest as one json.dumps of the whole document (the definition)."""
    doc = {
        "stack": name,
        "resources": [{"address": str(r.id), "properties": canonical(r.properties, {}),
                       "depends_on": [str(d) for d in r.depends_on],
                       "triggered_by": [str(t) for t in r.triggered_by],
                       "protect": r.protect} for r in resources],
        "outputs": canonical(outputs, {}),
        "depends_on": depends_on,
        "settings": canonical(settings, {}),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_piecewise_digest_is_the_whole_documents_digest() -> None:
    a = ResourceId("local", "file", "a")
    resources = [
        Resource(a, {"path": "/srv/a", "content": "héllo ✓\n", "mode": "0644",
                     "nested": {"z": [1, 2.5, None, True], "a": {"k": "v"}}}),
        Resource(ResourceId("local", "file", "b", 3), {"path": "/srv/b",
                                                        "token": Sensitive("s3cret-value")},
                 depends_on=(a,), protect=True),
        Resource(ResourceId("local", "command", "c", "key"), {"argv": ["true"]},
                 triggered_by=(a,)),
    ]
    args: tuple[Any, ...] = ("app", resources, {"url": "http://x", "n": 3}, ["base"],
                             {"targets": ["h1"]})
    assert stack_digest(*args, {}) == _whole(*args)
    assert stack_digest("empty", [], {}, [], {}, {}) == _whole("empty", [], {}, [], {})


def test_the_digest_follows_every_part() -> None:
    r = [Resource(ResourceId("local", "file", "a"), {"path": "/a", "content": "x"})]
    base = stack_digest("s", r, {}, [], {}, {})
    changed = [Resource(ResourceId("local", "file", "a"), {"path": "/a", "content": "y"})]
    assert stack_digest("s", changed, {}, [], {}, {}) != base
    assert stack_digest("s", r, {"o": 1}, [], {}, {}) != base
    assert stack_digest("s", r, {}, ["up"], {}, {}) != base
    assert stack_digest("t", r, {}, [], {}, {}) != base
