"""``quick_init``: the per-resource records build faster and behave exactly as before.

Each decorated model class is compared with a plain frozen dataclass of the
same fields, built the way ``dataclasses`` builds it.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import InitVar, dataclass, field
from typing import Any

import pytest

from driftless.model import Action, Change, LiveResource, Resource, ResourceId, ResourceState
from driftless.model.change import FieldDiff
from driftless.model.quick_init import quick_init
from driftless.model.result import ApplyResult, Outcome

RID = ResourceId("local", "file", "f", 1)
DECORATED = [Resource, LiveResource, Change, FieldDiff, ResourceState, ApplyResult]


def _twin(cls: type) -> type:
    """The same fields as a plain frozen, slotted dataclass (the generated ``__init__``)."""
    specs = [(f.name, Any, field(default=f.default, default_factory=f.default_factory))
             for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"Plain{cls.__name__}", specs, frozen=True, slots=True)


@pytest.mark.parametrize("cls", DECORATED, ids=lambda c: c.__name__)
def test_the_signature_is_the_dataclass_one(cls: type) -> None:
    mine = inspect.signature(vars(cls)["__init__"])
    plain = inspect.signature(vars(_twin(cls))["__init__"])
    assert [(p.name, p.kind) for p in mine.parameters.values()] == [
        (p.name, p.kind) for p in plain.parameters.values()]
    for name, param in plain.parameters.items():
        if param.default is not inspect.Parameter.empty and name != "self":
            assert repr(mine.parameters[name].default) == repr(param.default)


@pytest.mark.parametrize("cls", DECORATED, ids=lambda c: c.__name__)
def test_defaults_and_fresh_factories(cls: type) -> None:
    required = [f for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    args = {f.name: (RID if f.name == "id" else Action.NOOP if f.name == "action"
                     else Outcome.APPLIED if f.name == "outcome" else "p") for f in required}
    one, two = cls(**args), cls(**args)
    plain = _twin(cls)(**args)
    for f in dataclasses.fields(cls):
        assert getattr(one, f.name) == getattr(plain, f.name)
        if f.default_factory is not dataclasses.MISSING:
            assert getattr(one, f.name) is not getattr(two, f.name)  # a new dict each


def test_positional_keyword_and_replace_give_equal_records() -> None:
    props = {"path": "/tmp/x", "content": "hi"}
    by_position = Resource(RID, props, (), True, None, ())
    by_keyword = Resource(id=RID, properties=props, protect=True)
    assert by_position == by_keyword and hash(by_position.id) == hash(by_keyword.id)
    moved = dataclasses.replace(by_keyword, protect=False)
    assert moved.protect is False and moved.properties is props
    change = Change(RID, Action.CREATE, by_keyword, None, (FieldDiff("path", None, "/x"),))
    assert change.diffs[0].after == "/x" and change.reason == "" and change.adopt is False
    assert repr(LiveResource(RID)) == (
        "LiveResource(id=ResourceId(provider='local', kind='file', name='f', index=1), "
        "attributes={}, private={})")


@pytest.mark.parametrize("cls", DECORATED, ids=lambda c: c.__name__)
def test_still_frozen(cls: type) -> None:
    made: dict[type, Any] = {Change: Change(RID, Action.NOOP), FieldDiff: FieldDiff("p", 1, 2),
                             ApplyResult: ApplyResult(RID, Action.NOOP, Outcome.SKIPPED)}
    record = made[cls] if cls in made else cls(RID)
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, name, "other")


def test_a_missing_argument_is_the_usual_type_error() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'id'"):
        Resource()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Resource(RID, colour="red")  # type: ignore[call-arg]


def test_unsupported_classes_are_refused_when_defined() -> None:
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        a: int
        b: InitVar[int] = 0

    for cls in (NoSlots, NotFrozen, KeywordOnly, WithInitVar):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)
