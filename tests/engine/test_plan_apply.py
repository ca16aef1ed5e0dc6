"""Plan and apply of real local files through the engine, with SQLite state."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.errors import ConfigError, RenderError, StalePlanError
from driftless.model import Action, Outcome, Resource, ResourceId
from engine_helpers import engine, file_res, stack


def test_apply_then_plan_has_no_changes(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    desired = stack("web", [file_res(tmp_path / f"f{i}.txt", f"hello {i}") for i in range(5)])
    plan = eng.plan(desired)
    assert [c.action for c in plan.pending()] == [Action.CREATE] * 5
    report = eng.apply(plan, desired)
    assert report.ok and report.snapshot.serial == 1
    assert (tmp_path / "f3.txt").read_text() == "hello 3"
    again = eng.plan(desired)
    assert not again.has_changes()


def test_hand_edit_is_drift_and_apply_restores(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    target = tmp_path / "motd"
    desired = stack("web", [file_res(target, "welcome\n")])
    eng.apply(eng.plan(desired), desired)
    target.write_text("hacked\n")
    plan = eng.plan(desired)
    (change,) = plan.pending()
    assert change.action is Action.UPDATE
    assert change.reason.startswith("drift:")
    drift, _ = eng.refresh(desired)
    assert [str(c.id) for c in drift] == ["local:file/motd"]
    eng.apply(eng.plan(desired), desired)
    assert target.read_text() == "welcome\n"


def test_removed_resource_is_deleted_and_protected_one_refused(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    keep = file_res(tmp_path / "keep", "k", protect=True)
    gone = file_res(tmp_path / "gone", "g")
    eng.apply(eng.plan(stack("s", [keep, gone])), stack("s", [keep, gone]))
    desired = stack("s", [])
    plan = eng.plan(desired)
    refused = plan.refused()
    assert [str(c.id) for c in refused] == ["local:file/keep"]
    assert "unprotect" in refused[0].reason
    with pytest.raises(ConfigError, match="protected"):
        eng.apply(plan, desired)
    assert (tmp_path / "gone").exists(), "a refused plan applies nothing"
    destroy = eng.plan(desired, destroy=True)
    report = eng.apply(destroy, desired)
    assert report.ok
    assert not (tmp_path / "gone").exists() and (tmp_path / "keep").exists()
    assert [str(r) for r in report.snapshot.resources] == ["local:file/keep"]


def test_stale_plan_is_refused(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    desired = stack("s", [file_res(tmp_path / "a", "1")])
    old = eng.plan(desired)
    eng.apply(eng.plan(desired), desired)
    with pytest.raises(StalePlanError, match="state changed"):
        eng.apply(old, desired)


def test_failure_skips_dependents_but_not_independent_branches(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    bad = file_res(tmp_path / "missing-dir" / "x", "x", name="bad")
    child = file_res(tmp_path / "child", "c", depends_on=[bad.id])
    other = file_res(tmp_path / "other", "o")
    desired = stack("s", [bad, child, other])
    report = eng.apply(eng.plan(desired), desired)
    outcome = {str(r.id): r.outcome for r in report.results}
    assert outcome == {"local:file/bad": Outcome.FAILED, "local:file/child": Outcome.SKIPPED,
                       "local:file/other": Outcome.APPLIED}
    assert (tmp_path / "other").exists() and not (tmp_path / "child").exists()
    assert [str(r) for r in report.snapshot.resources] == ["local:file/other"]


def test_bad_input_collects_every_problem(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    a = Resource(ResourceId("local", "fiel", "a"), {"path": str(tmp_path / "a")})
    b = Resource(ResourceId("local", "file", "b"), {"content": "no path", "colour": 1})
    c1 = file_res(tmp_path / "c1", "x", name="c1", depends_on=[ResourceId("local", "file", "c2")])
    c2 = file_res(tmp_path / "c2", "x", name="c2", depends_on=[c1.id])
    with pytest.raises(RenderError) as info:
        eng.plan(stack("s", [a, b, c1, c2]))
    text = "\n".join(f"{p} {p.hint}" for p in info.value.problems)
    assert "unknown kind 'local:fiel'" in text and "did you mean 'local:file'" in text
    assert "missing required property 'path'" in text
    assert "unknown property 'colour'" in text
    assert "dependency cycle" in text
    assert not list(tmp_path.glob("c*")), "nothing applied"


def test_missing_provider_is_one_clear_error(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    res = Resource(ResourceId("nosuch", "thing", "x"), {})
    with pytest.raises(ConfigError, match="provider 'nosuch' is not installed"):
        eng.plan(stack("s", [res]))


def test_count_reduction_names_the_count_and_destroy_says_so(tmp_path: Path) -> None:
    eng = engine(tmp_path)

    def worker(i: int) -> Resource:
        return Resource(ResourceId("local", "file", "w", i),
                        {"path": str(tmp_path / f"w{i}"), "content": str(i)})

    three = stack("s", [worker(i) for i in range(3)])
    eng.apply(eng.plan(three), three)
    one = stack("s", [worker(0)])
    reasons = {str(c.id): c.reason for c in eng.plan(one).pending()}
    assert reasons == {"local:file/w[1]": "count of w is now 1",
                       "local:file/w[2]": "count of w is now 1"}
    assert {c.reason for c in eng.plan(one, destroy=True).pending()} == {"destroy requested"}
