"""``planner.completed`` is ``dataclasses.replace`` written out for speed: it must
carry every field of ``Change`` it is not given, including any field added later."""

from __future__ import annotations

import dataclasses
from typing import Any

from driftless.model import Change, FieldDiff, LiveResource, Resource, ResourceId
from driftless.plan.planner import completed

GIVEN = {"desired", "prior", "depends_on", "reason", "diffs"}


def test_completed_carries_every_other_field_of_change() -> None:
    # a value of its own in every field completed is not given, whatever Change holds
    values: dict[str, Any] = {f.name: object() for f in dataclasses.fields(Change)
                              if f.name not in GIVEN}
    before = Change(**values)
    rid, other = ResourceId.parse("local:file/a"), ResourceId.parse("local:file/b")
    res = Resource(rid, {"path": "/tmp/a"})
    live = LiveResource(rid, {"path": "/tmp/a"}, {})
    diffs = (FieldDiff("path", None, "/tmp/a"),)
    got = completed(before, res, live, (other,), "new", diffs)
    assert all(getattr(got, name) is value for name, value in values.items())
    assert got == dataclasses.replace(before, desired=res, prior=live, depends_on=(other,),
                                      reason="new", diffs=diffs)
