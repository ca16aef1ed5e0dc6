"""``record``: classes defined at half the cost that behave exactly as dataclasses.

Each check builds the same class twice, once with ``@record`` and once with
``@dataclass``, and compares what users of the class see: the signature,
defaults and factories, equality, hashing, ``repr``, frozen-ness,
``replace``, ``fields``, copies and pickles. The model records made per
resource are checked against plain twins of their own fields.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

import pytest

from driftless.model import Action, Change, LiveResource, Resource, ResourceId, ResourceState
from driftless.model.change import FieldDiff
from driftless.model.result import ApplyResult, Outcome
from driftless.records import record

RID = ResourceId("local", "file", "f", 1)
MODEL = [Resource, LiveResource, Change, FieldDiff, ResourceState, ApplyResult]


def _both(body: Callable[[Callable[[type], type]], type], **options: Any) -> tuple[type, type]:
    """The class ``body`` makes, with ``@record(**options)`` and with the dataclass
    ``record`` stands for."""
    frozen = options.get("frozen", True)
    plain = dataclass(frozen=frozen, slots=options.get("slots", False))
    return body(record(**options)), body(plain)


def _point(decorate: Callable[[type], type]) -> type:
    @decorate
    class Point:
        """A point."""

        x: int
        y: int = 0
        tags: dict[str, str] = field(default_factory=dict)
        note: str = field(default="", compare=False)
        secret: str = field(default="s", repr=False)
        kind: ClassVar[str] = "point"

    return Point


def _pair(decorate: Callable[[type], type]) -> type:
    @decorate
    class Pair:
        """Hashable fields; ``label`` neither compares nor hashes."""

        n: int
        label: str = field(default="", compare=False)

    return Pair


OPTIONS = [{}, {"slots": True}, {"frozen": False}, {"frozen": False, "slots": True}]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_signature_defaults_and_fresh_factories(options: dict[str, Any]) -> None:
    mine, plain = _both(_point, **options)
    ours, theirs = inspect.signature(mine), inspect.signature(plain)
    assert [(p.name, p.kind, repr(p.default)) for p in ours.parameters.values()] == [
        (p.name, p.kind, repr(p.default)) for p in theirs.parameters.values()]
    one, two = mine(1), mine(1)
    assert one.tags == {} and one.tags is not two.tags  # a new dict per call
    assert (one.x, one.y, one.note, one.secret) == (1, 0, "", "s")
    assert [f.name for f in dataclasses.fields(mine)] == ["x", "y", "tags", "note", "secret"]
    assert mine.__match_args__ == plain.__match_args__  # type: ignore[attr-defined]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_repr_eq_and_hash_as_the_dataclass(options: dict[str, Any]) -> None:
    mine, plain = _both(_point, **options)
    a, b = mine(1, 2, {"k": "v"}, note="a"), mine(1, 2, {"k": "v"}, note="b")
    pa = plain(1, 2, {"k": "v"}, note="a")
    assert repr(a).replace(mine.__qualname__, "X") == repr(pa).replace(plain.__qualname__, "X")
    assert "secret" not in repr(a)
    assert a == b  # note does not compare
    assert a != mine(1, 3, {"k": "v"}) and a != pa  # another class is never equal
    if options.get("frozen", True):
        pair, plain_pair = _both(_pair, **options)
        assert hash(pair(1, "a")) == hash(pair(1, "b")) == hash(plain_pair(1, "c"))
        with pytest.raises(TypeError, match="unhashable"):
            hash(a)  # its dict field, as the dataclass's
    else:
        with pytest.raises(TypeError, match="unhashable"):
            hash(a)


def test_frozen_copies_pickles_and_replace() -> None:
    for options in ({}, {"slots": True}):
        mine, _ = _both(_point, **options)
        one = mine(1, 2, {"k": "v"})
        with pytest.raises(dataclasses.FrozenInstanceError):
            one.x = 5
        with pytest.raises(dataclasses.FrozenInstanceError):
            del one.y
        moved = dataclasses.replace(one, y=7)
        assert (moved.x, moved.y, moved.tags) == (1, 7, {"k": "v"})
        assert copy.copy(one) == one == copy.deepcopy(one)
        globals()["Point"] = mine  # pickle finds classes by module-level name
        mine.__qualname__ = "Point"
        try:
            assert pickle.loads(pickle.dumps(one)) == one
        finally:
            del globals()["Point"]
        assert dataclasses.asdict(one) == {"x": 1, "y": 2, "tags": {"k": "v"}, "note": "",
                                           "secret": "s"}


def test_a_mutable_record_assigns_and_post_init_runs() -> None:
    seen: list[int] = []

    @record(frozen=False)
    class Counter:
        """Counts."""

        n: int = 0

        def __post_init__(self) -> None:
            seen.append(self.n)

    c = Counter(3)
    c.n += 1
    assert c.n == 4 and seen == [3]


def test_inherited_fields_and_own_methods_are_kept() -> None:
    @record(slots=True)
    class Base:
        """A base."""

        a: int

    @record
    class Child(Base):
        """A child."""

        b: str = "x"

        def __repr__(self) -> str:
            return "mine"

    child = Child(1, "y")
    assert (child.a, child.b, repr(child)) == (1, "y", "mine")
    assert child == Child(1, "y") and hash(child) == hash(Child(1, "y"))

    @record
    class OwnEq:
        """Equal to everything."""

        a: int

        def __eq__(self, other: object) -> bool:
            return True

    assert OwnEq(1) == OwnEq(2) and hash(OwnEq(1)) == hash((1,))  # the fields' hash


def test_fields_named_like_what_the_methods_use() -> None:
    for options in ({}, {"slots": True}, {"frozen": False}):
        @record(**options)
        class Peer:
            """Whether a peer is this node (and names the written methods could use)."""

            name: str
            self: bool = False
            _setattr: int = 1
            _cls: int = 2
            other: int = 3
            value: dict[str, int] = field(default_factory=dict)

        peer = Peer("a", True, 5, 6, 7, {"k": 1})
        assert (peer.name, peer.self, peer._setattr, peer._cls, peer.other, peer.value) == (
            "a", True, 5, 6, 7, {"k": 1})
        assert Peer(name="b").self is False and Peer("b") == Peer("b")
        if options.get("frozen", True):
            with pytest.raises(dataclasses.FrozenInstanceError):
                peer.other = 1


def test_a_missing_argument_is_the_usual_type_error() -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'id'"):
        Resource()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        Resource(RID, colour="red")  # type: ignore[call-arg]


def test_a_class_without_a_docstring_gets_one_without_inspect(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``dataclass`` would make the docstring from ``inspect.signature`` (~1 ms a
    class at import); ``record`` names the fields itself, and keeps a docstring
    the class has."""
    def refuse(*_a: Any, **_k: Any) -> None:
        raise AssertionError("inspect.signature was asked")

    monkeypatch.setattr(inspect, "signature", refuse)

    @record(slots=True)
    class Bare:
        a: int
        b: str = "x"

    @record
    class Told:
        """Said so."""

        a: int

    assert Bare.__doc__ == "Bare(a, b)"
    assert Told.__doc__ == "Said so."
    assert Bare(1) == Bare(1, "x")


def test_unsupported_fields_are_refused_when_defined() -> None:
    def keyword_only() -> None:
        @record
        class K:
            """."""

            a: int = field(kw_only=True)

    def init_less() -> None:
        @record
        class N:
            """."""

            a: int = field(init=False, default=0)

    def init_var() -> None:
        @record
        class V:
            """."""

            a: int
            b: InitVar[int] = 0

    for make in (keyword_only, init_less, init_var):
        with pytest.raises(TypeError, match="keyword-only, init-less or InitVar"):
            make()


def _twin(cls: type) -> type:
    """The same fields as a plain frozen, slotted dataclass."""
    specs = [(f.name, Any, field(default=f.default, default_factory=f.default_factory))
             for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"Plain{cls.__name__}", specs, frozen=True, slots=True)


@pytest.mark.parametrize("cls", MODEL, ids=lambda c: c.__name__)
def test_model_records_match_plain_twins(cls: type) -> None:
    mine = inspect.signature(cls)
    plain = inspect.signature(_twin(cls))
    assert [(p.name, p.kind, repr(p.default)) for p in mine.parameters.values()] == [
        (p.name, p.kind, repr(p.default)) for p in plain.parameters.values()]
    made: dict[type, Any] = {Change: Change(RID, Action.NOOP), FieldDiff: FieldDiff("p", 1, 2),
                             ApplyResult: ApplyResult(RID, Action.NOOP, Outcome.SKIPPED)}
    one = made[cls] if cls in made else cls(RID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(one, dataclasses.fields(cls)[0].name, "other")
    assert dataclasses.replace(one) == one and repr(dataclasses.replace(one)) == repr(one)


def test_positional_keyword_and_replace_give_equal_records() -> None:
    props = {"path": "/tmp/x", "content": "hi"}
    by_position = Resource(RID, props, (), True, None, ())
    by_keyword = Resource(id=RID, properties=props, protect=True)
    assert by_position == by_keyword
    moved = dataclasses.replace(by_keyword, protect=False)
    assert moved.protect is False and moved.properties is props
    change = Change(RID, Action.CREATE, by_keyword, None, (FieldDiff("path", None, "/x"),))
    assert change.diffs[0].after == "/x" and change.reason == "" and change.adopt is False
    assert repr(LiveResource(RID)) == (
        "LiveResource(id=ResourceId(provider='local', kind='file', name='f', index=1), "
        "attributes={}, private={})")


_PROBE = r"""
import json, sys
from driftless import records
from driftless.model import ResourceId, ResourceState
rid = ResourceId("local", "file", "f", 1)
a, b = ResourceState(rid, {"x": 1}), ResourceState(rid, {"x": 1})
try:
    a.protect = True
    frozen = False
except Exception:
    frozen = True
print(json.dumps({"compiled": records._COMPILED.made, "equal": a == b and a != ResourceState(rid),
                  "repr": repr(a), "frozen": frozen}))
records.save_compiled()
"""


def _probe(cache: Any) -> dict[str, Any]:
    """Import the model in a new process with ``cache`` as XDG_CACHE_HOME."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    return dict(json.loads(out.stdout))


def test_compiled_methods_are_kept_for_the_next_process(tmp_path: Any) -> None:
    first = _probe(tmp_path)
    kept = tmp_path / "driftless"
    (path,) = kept.iterdir()
    assert first["compiled"] and path.name.startswith("records-")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    second = _probe(tmp_path)
    assert not second["compiled"]  # every text ran from the file
    assert second == {**first, "compiled": False}
    assert second["equal"] and second["frozen"] and second["repr"].startswith("ResourceState(")


@pytest.mark.parametrize("spoil", ["damaged", "other interpreter", "writable by others"])
def test_a_kept_file_not_to_trust_is_ignored(tmp_path: Any, spoil: str) -> None:
    _probe(tmp_path)
    (path,) = (tmp_path / "driftless").iterdir()
    data = path.read_bytes()
    if spoil == "damaged":
        path.write_bytes(data[: len(data) // 2])
    elif spoil == "other interpreter":
        path.write_bytes(b"\0\0\r\n" + data[4:])
    else:
        path.chmod(0o666)
    again = _probe(tmp_path)
    assert again["compiled"] and again["equal"] and again["frozen"]
