"""Objects that exist but are not in state: reported, refused, adopted on request."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from driftless.errors import ConfigError
from driftless.model import Action
from driftless.plan import adopt_unmanaged, import_command
from engine_helpers import engine, file_res, stack


def _lose_state(tmp: Path) -> None:
    """What an operator does by accident: delete state.db (and its WAL files)."""
    for f in tmp.glob("state.db*"):
        f.unlink()


def test_lost_state_reports_every_existing_file_as_unmanaged(tmp_path: Path) -> None:
    desired = stack("web", [file_res(tmp_path / f"f{i}", f"v{i}") for i in range(3)])
    eng = engine(tmp_path)
    eng.apply(eng.plan(desired), desired)
    _lose_state(tmp_path)
    plan = engine(tmp_path).plan(desired)
    assert not plan.pending() and plan.has_changes() and not plan.can_apply()
    assert [str(c.id) for c in plan.unmanaged()] == ["local:file/f0", "local:file/f1",
                                                     "local:file/f2"]
    assert plan.summary()["unmanaged"] == 3
    assert "3 refused (3 not managed)" in plan.summary_line()


def test_refused_plan_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "motd"
    desired = stack("web", [file_res(target, "welcome\n")])
    eng = engine(tmp_path)
    eng.apply(eng.plan(desired), desired)
    _lose_state(tmp_path)
    target.write_text("theirs\n")
    before = target.stat().st_mtime_ns
    eng = engine(tmp_path)
    plan = eng.plan(desired)
    (change,) = plan.unmanaged()
    assert change.action is Action.UPDATE and change.diffs, "the plan shows how it differs"
    with pytest.raises(ConfigError, match=r"exist.s. but are not managed"):
        eng.apply(plan, desired)
    assert target.read_text() == "theirs\n" and target.stat().st_mtime_ns == before


def test_adopting_a_matching_object_writes_state_only(tmp_path: Path) -> None:
    target = tmp_path / "motd"
    desired = stack("web", [file_res(target, "welcome\n")])
    eng = engine(tmp_path)
    eng.apply(eng.plan(desired), desired)
    _lose_state(tmp_path)
    before = target.stat().st_mtime_ns
    eng = engine(tmp_path)
    plan = adopt_unmanaged(eng.plan(desired))
    (change,) = plan.pending()
    assert change.action is Action.READ and change.adopt and plan.summary()["adopt"] == 1
    report = eng.apply(plan, desired)
    assert report.ok and list(report.snapshot.resources) == [change.id]
    assert target.stat().st_mtime_ns == before
    assert not eng.plan(desired).has_changes()


def test_adopting_a_differing_object_takes_it_over_then_updates(tmp_path: Path) -> None:
    target = tmp_path / "motd"
    desired = stack("web", [file_res(target, "welcome\n")])
    target.write_text("theirs\n")
    eng = engine(tmp_path)
    plan = adopt_unmanaged(eng.plan(desired))
    (change,) = plan.pending()
    assert change.action is Action.UPDATE and change.adopt and change.prior is not None
    assert eng.apply(plan, desired).ok
    assert target.read_text() == "welcome\n"
    assert not eng.plan(desired).has_changes()


def test_destroy_after_adoption_removes_the_objects(tmp_path: Path) -> None:
    desired = stack("web", [file_res(tmp_path / "a", "a"), file_res(tmp_path / "b", "b")])
    eng = engine(tmp_path)
    eng.apply(eng.plan(desired), desired)
    _lose_state(tmp_path)
    eng = engine(tmp_path)
    assert not eng.plan(desired, destroy=True).has_changes(), "destroy never touches strangers"
    eng.apply(adopt_unmanaged(eng.plan(desired)), desired)
    assert eng.apply(eng.plan(desired, destroy=True), desired).ok
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_import_command_names_the_path(tmp_path: Path) -> None:
    target = tmp_path / "my motd"
    desired = stack("web", [file_res(target, "x", name="motd")])
    target.write_text("x")
    (change,) = engine(tmp_path).plan(desired).unmanaged()
    assert change.prior is not None
    assert import_command(change.id, change.prior.attributes) == \
        f"driftless import local:file/motd '{target}'"
    assert os.fspath(target) in str(change.prior.attributes.get("path"))


def test_a_changed_path_replaces_the_file_instead_of_leaving_the_old_one(tmp_path: Path) -> None:
    old, new = tmp_path / "a.txt", tmp_path / "b.txt"
    eng = engine(tmp_path)
    first = stack("web", [file_res(old, "hi\n", name="f")])
    eng.apply(eng.plan(first), first)
    moved = stack("web", [file_res(new, "hi\n", name="f")])
    plan = eng.plan(moved)
    (change,) = plan.pending()
    assert change.action is Action.REPLACE and "path forces replacement" in change.reason
    eng.apply(plan, moved)
    assert new.read_text() == "hi\n" and not old.exists()
    assert not eng.plan(moved).has_changes()
