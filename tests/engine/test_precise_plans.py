"""Plans say what apply will do: no phantom dependent updates, replacements named.

Each case runs the real CLI: apply, change something, ``plan --json``, then
``apply --json``, and checks the plan's changes against what apply did —
the same addresses with the same actions (``assert_agree``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_helpers import run, write_project
from driftless.model import Resource, ResourceId
from driftless.providers.local import LocalProvider
from driftless.providers.testing import ConformanceCase, ConformanceFailure, check_provider


def _file(path: Path, content: str) -> dict[str, Any]:
    return {"type": "local:file", "properties": {"path": str(path), "content": content}}


def _plan(root: Path) -> list[dict[str, Any]]:
    proc = run(root, "plan", "--json", check=True)
    return [c for p in json.loads(proc.stdout)["plans"] for c in p["changes"]]


def _apply(root: Path) -> list[dict[str, Any]]:
    proc = run(root, "apply", "--auto-approve", "--json", check=True)
    return [r for r in json.loads(proc.stdout)["results"] if r["action"] != "no-op"]


def assert_agree(planned: list[dict[str, Any]], done: list[dict[str, Any]]) -> None:
    """Plan and apply name the same changes, in count and in kind."""
    want = sorted((c["address"], c["action"]) for c in planned)
    got = sorted((r["address"], r["action"]) for r in done)
    assert want == got, f"plan said {want}, apply did {got}"
    assert all(r["outcome"] == "applied" for r in done), done


def _project(root: Path, a_content: str, b_content: str) -> None:
    write_project(root, {"a": _file(root / "a.txt", a_content),
                         "b": _file(root / "b.txt", b_content)})


def test_a_dependent_referencing_a_kept_attribute_is_not_a_phantom_update(tmp_path: Path) -> None:
    _project(tmp_path, "one", "next to ${a.path}")
    run(tmp_path, "apply", "--auto-approve", check=True)
    _project(tmp_path, "two", "next to ${a.path}")  # a updates in place; its path is kept
    planned = _plan(tmp_path)
    assert [(c["address"], c["action"]) for c in planned] == [("local:file/a", "update")]
    assert_agree(planned, _apply(tmp_path))
    assert _plan(tmp_path) == []


def test_a_dependent_on_an_attribute_the_update_changes_is_shown_and_applied(
        tmp_path: Path) -> None:
    _project(tmp_path, "one", "digest ${a.sha256}")
    run(tmp_path, "apply", "--auto-approve", check=True)
    _project(tmp_path, "two", "digest ${a.sha256}")
    planned = _plan(tmp_path)
    actions = {c["address"]: c["action"] for c in planned}
    assert actions == {"local:file/a": "update", "local:file/b": "update"}
    b = next(c for c in planned if c["address"] == "local:file/b")
    assert "known after apply" in json.dumps(b)
    assert_agree(planned, _apply(tmp_path))
    assert (tmp_path / "b.txt").read_text().startswith("digest ")


def test_an_unknown_value_in_a_replace_forcing_property_is_a_replacement(tmp_path: Path) -> None:
    def project(content: str) -> None:
        write_project(tmp_path, {
            "a": _file(tmp_path / "a.txt", content),
            "b": {"type": "local:file", "properties": {
                "path": str(tmp_path) + "/b-${a.size}.txt", "content": "b"}},
        })

    project("one")
    run(tmp_path, "apply", "--auto-approve", check=True)
    assert (tmp_path / "b-3.txt").exists()
    project("three")  # a's size changes, so b's path (which forces replacement) does
    planned = _plan(tmp_path)
    b = next(c for c in planned if c["address"] == "local:file/b")
    assert b["action"] == "replace", b
    assert "force" in b["reason"]
    assert_agree(planned, _apply(tmp_path))
    assert (tmp_path / "b-5.txt").exists() and not (tmp_path / "b-3.txt").exists()
    assert _plan(tmp_path) == []


def test_drift_on_two_resources_plans_exactly_what_apply_does(tmp_path: Path) -> None:
    resources = {f"f{i}": _file(tmp_path / f"f{i}.txt", f"v{i}") for i in range(4)}
    resources["index"] = _file(tmp_path / "index.txt", "${f0.path} ${f1.path} ${f2.path}")
    write_project(tmp_path, resources)
    run(tmp_path, "apply", "--auto-approve", check=True)
    (tmp_path / "f0.txt").write_text("edited by hand")
    (tmp_path / "f1.txt").write_text("edited by hand")
    planned = _plan(tmp_path)
    assert sorted(c["address"] for c in planned) == ["local:file/f0", "local:file/f1"]
    assert_agree(planned, _apply(tmp_path))


class _Overclaiming(LocalProvider):
    """Says a file's update keeps every attribute, which is false for its sha256."""

    def kinds(self) -> Any:
        from dataclasses import replace

        kinds = dict(super().kinds())
        kinds["file"] = replace(kinds["file"], update_changes=frozenset())
        return kinds


def test_conformance_catches_a_kind_that_overclaims_what_an_update_keeps(tmp_path: Path) -> None:
    path = str(tmp_path / "f")
    rid = ResourceId("local", "file", "f")
    case = ConformanceCase(Resource(rid, {"path": path, "content": "a"}),
                           Resource(rid, {"path": path, "content": "bb"}), path)
    try:
        check_provider(_Overclaiming(), [case])
    except ConformanceFailure as exc:
        assert "attributes kept by update" in str(exc) and "sha256" in str(exc)
    else:
        raise AssertionError("an overclaiming kind passed conformance")


def test_a_marker_that_already_exists_is_waited_on_not_refused_as_unmanaged(
        tmp_path: Path) -> None:
    marker = tmp_path / "setup-done"
    marker.write_text("")  # first boot finished before driftless ever ran
    write_project(tmp_path, {
        "ready": {"type": "local:marker_wait", "properties": {"path": str(marker),
                                                               "timeout": 5}},
        "app": {"type": "local:file", "depends_on": ["ready"],
                "properties": {"path": str(tmp_path / "app.conf"), "content": "x"}}})
    proc = run(tmp_path, "plan", "--json", check=True)
    assert "not managed" not in proc.stdout + proc.stderr
    run(tmp_path, "apply", "--auto-approve", check=True)
    assert (tmp_path / "app.conf").read_text() == "x" and marker.exists()
    assert _plan(tmp_path) == []
