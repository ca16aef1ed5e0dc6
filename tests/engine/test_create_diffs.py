"""A create's diffs are made only when asked for (``CreateDiffs``), and stand for
the tuple of ``FieldDiff`` the planner used to make eagerly in every way a plan
uses them: compared, hashed, iterated, sliced, added to, shown, saved."""

from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from driftless.cli.display import change_lines, print_change
from driftless.model import Action, Change, FieldDiff, Resource, ResourceId
from driftless.model.change import CreateDiffs
from driftless.model.values import Sensitive
from engine_helpers import engine, file_res, stack

RID = ResourceId.parse("local:file/motd")
PROPS: dict[str, Any] = {"path": "/etc/motd", "mode": None, "content": "hi\n", "make_parents": True}


def _eager(props: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """What the planner made before: every property set, by name, secrets marked."""
    return tuple(FieldDiff(k, None, v, isinstance(v, Sensitive))
                 for k, v in sorted(props.items()) if v is not None)


def test_it_is_the_tuple_it_stands_for() -> None:
    lazy, eager = CreateDiffs(PROPS), _eager(PROPS)
    assert lazy == eager and eager == lazy and lazy == CreateDiffs(dict(PROPS))
    assert lazy != eager[:1] and hash(lazy) == hash(eager)
    assert list(lazy) == list(eager) and len(lazy) == 3 and bool(lazy)
    assert lazy[0] == eager[0] and lazy[-1].path == "path" and lazy[:2] == eager[:2]
    extra = FieldDiff("sha256", None, "x")
    # concatenation itself is what is checked (providers add to a change's diffs)
    assert lazy + (extra,) == (*eager, extra)  # noqa: RUF005
    assert (extra,) + lazy == (extra, *eager)  # noqa: RUF005
    assert (*lazy, extra) == (*eager, extra)
    assert repr(lazy) == repr(eager) and eager[1] in lazy
    assert not CreateDiffs({"mode": None})


class _EqualsEverything:
    """A value that says it equals anything, None too: ``None in values`` is then
    no answer, and truth must come from the values' identity."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


def test_truth_is_whether_some_property_is_set_whatever_the_values_compare() -> None:
    assert not CreateDiffs({}) and not CreateDiffs({"mode": None, "owner": None})
    assert CreateDiffs({"mode": None, "path": "/x"}) and CreateDiffs({"make_parents": False})
    odd = _EqualsEverything()
    assert CreateDiffs({"mode": None, "thing": odd}) and CreateDiffs({"thing": odd})
    for props in ({"mode": None, "thing": odd}, {"path": "/x", "mode": None}, {}):
        lazy = CreateDiffs(props)
        assert bool(lazy) is bool(lazy.made())


def test_shown_values_of_plain_and_secret_properties_are_the_made_diffs() -> None:
    for props in (PROPS, {"path": "/x", "content": Sensitive("s3cret"), "mode": None},
                  {"path": "/x", "tags": {"a": Sensitive("s3cret")}}):
        assert CreateDiffs(props).shown() == [(d.path, d.shown()[1]) for d in _eager(props)]
    assert "s3cret" not in repr(CreateDiffs({"tags": {"a": Sensitive("s3cret")}}).shown())


def test_a_secret_is_marked_and_never_shown() -> None:
    secret = Sensitive("s3cret-value")
    lazy = CreateDiffs({"path": "/x", "content": secret})
    assert [d.sensitive for d in lazy] == [True, False]
    assert "s3cret-value" not in repr([d.shown() for d in lazy])


def test_copies_and_pickles_are_plain_tuples() -> None:
    lazy = CreateDiffs(PROPS)
    for other in (pickle.loads(pickle.dumps(lazy)), copy.copy(lazy), copy.deepcopy(lazy)):
        assert type(other) is tuple and other == _eager(PROPS)


def test_changes_compare_and_save_as_with_the_tuple() -> None:
    res = Resource(RID, PROPS)
    lazy = Change(RID, Action.CREATE, res, None, cast("tuple[FieldDiff, ...]", CreateDiffs(PROPS)),
                  reason="new")
    eager = Change(RID, Action.CREATE, res, None, _eager(PROPS), reason="new")
    assert lazy == eager and eager == lazy
    assert json.dumps(lazy.to_json()) == json.dumps(eager.to_json())


def test_a_planned_create_makes_its_diffs_only_when_asked(tmp_path: Path) -> None:
    planned = engine(tmp_path).plan(stack("main", [file_res(tmp_path / "motd", "hi\n")]))
    change = planned.changes[0]
    assert change.action is Action.CREATE
    assert isinstance(change.diffs, CreateDiffs) and change.diffs._made is None
    assert [d.path for d in change.diffs] == ["content", "path"]
    assert change.diffs._made is not None  # made once, on that first use


def test_a_printed_create_shows_the_same_lines_without_making_its_diffs(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The plan printed for a create (plain and markup) is the same whether its diffs
    are made or not, a secret masked either way; printing does not make them."""
    props = {**PROPS, "content": Sensitive("s3cret-value"), "owner": "[bold]root[/]"}
    res = Resource(RID, props)
    lazy_diffs = CreateDiffs(props)
    lazy = Change(RID, Action.CREATE, res, None, cast("tuple[FieldDiff, ...]", lazy_diffs),
                  reason="does not exist yet")
    eager = Change(RID, Action.CREATE, res, None, _eager(props), reason="does not exist yet")
    assert change_lines(lazy) == change_lines(eager)
    print_change(lazy)
    shown_lazy = capsys.readouterr().out
    print_change(eager)
    assert shown_lazy == capsys.readouterr().out
    assert "(sensitive)" in shown_lazy and "s3cret-value" not in shown_lazy
    assert lazy_diffs._made is None
    assert lazy_diffs.made() and lazy_diffs.shown() == [(d.path, d.shown()[1]) for d in eager.diffs]
