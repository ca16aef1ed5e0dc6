"""The core verbs through the real CLI: drift, saved plans, protection, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import files, run, write_project


def test_apply_plan_noop_then_drift_restored(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 3))
    run(tmp_path, "apply", "--auto-approve", check=True)
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0
    (tmp_path / "out" / "f1.txt").write_text("edited by hand\n")
    plan = run(tmp_path, "plan", "--detailed-exitcode")
    assert plan.returncode == 2
    assert "local:file/f1" in plan.stdout and "drift" in plan.stdout
    refresh = run(tmp_path, "refresh", "--json", check=True)
    assert [d["address"] for d in json.loads(refresh.stdout)["drift"]["main"]] == ["local:file/f1"]
    run(tmp_path, "apply", "--auto-approve", check=True)
    assert (tmp_path / "out" / "f1.txt").read_text() == "content 1\n"


def test_saved_plan_applies_exactly_or_refuses_when_stale(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 2))
    run(tmp_path, "plan", "-out", str(tmp_path / "p1.json"), check=True)
    run(tmp_path, "plan", "-out", str(tmp_path / "p2.json"), check=True)
    saved = json.loads((tmp_path / "p1.json").read_text())
    addresses = {c["address"] for c in saved["plans"][0]["changes"]}
    assert addresses == {"local:file/f0", "local:file/f1"}
    applied = run(tmp_path, "apply", str(tmp_path / "p1.json"), check=True)
    assert "2 applied" in applied.stdout
    stale = run(tmp_path, "apply", str(tmp_path / "p2.json"))
    assert stale.returncode == 1
    assert "state changed since this plan was made" in stale.stderr
    assert "Traceback" not in stale.stderr


def test_saved_plan_refused_when_config_changed(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1))
    run(tmp_path, "plan", "-out", str(tmp_path / "p.json"), check=True)
    write_project(tmp_path, files(tmp_path, 2))
    out = run(tmp_path, "apply", str(tmp_path / "p.json"))
    assert out.returncode == 1 and "configuration changed" in out.stderr
    assert not (tmp_path / "out").exists(), "nothing applied"


def test_protected_resource_removed_from_config(tmp_path: Path) -> None:
    res = files(tmp_path, 2)
    res["f0"]["protect"] = True
    write_project(tmp_path, res)
    run(tmp_path, "apply", "--auto-approve", check=True)
    write_project(tmp_path, {"f1": res["f1"]})
    plan = run(tmp_path, "plan")
    assert "delete refused" in plan.stdout
    assert "driftless state unprotect local:file/f0" in plan.stdout
    apply = run(tmp_path, "apply", "--auto-approve")
    assert apply.returncode == 1 and "protected" in apply.stdout + apply.stderr
    assert (tmp_path / "out" / "f0.txt").exists()
    destroy = run(tmp_path, "destroy", "--auto-approve")
    assert destroy.returncode == 0, destroy.stderr
    assert "local:file/f0: skipped (protected)" in destroy.stderr
    assert (tmp_path / "out" / "f0.txt").exists() and not (tmp_path / "out" / "f1.txt").exists()
    run(tmp_path, "state", "unprotect", "local:file/f0", check=True)
    run(tmp_path, "destroy", "--auto-approve", check=True)
    assert not (tmp_path / "out" / "f0.txt").exists()


def _bad(tmp_path: Path, resources: dict[str, object]) -> str:
    write_project(tmp_path, resources)
    out = run(tmp_path, "apply", "--auto-approve")
    assert out.returncode == 1, out.stdout
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists(), "nothing applied"
    return out.stderr


def test_unknown_kind(tmp_path: Path) -> None:
    err = _bad(tmp_path, {"a": {"type": "local:fiel", "properties": {"path": "/tmp/x"}}})
    assert "provider 'local' has no kind 'fiel'" in err and "stack.yaml:4:11" in err
    assert "did you mean 'file'?" in err


def test_missing_and_mistyped_property(tmp_path: Path) -> None:
    res = files(tmp_path, 1)
    del res["f0"]["properties"]["path"]
    res["f0"]["properties"]["make_parents"] = "perhaps"
    err = _bad(tmp_path, res)
    assert "local:file/f0" in err and "'path'" in err and "make_parents" in err


def test_dependency_cycle(tmp_path: Path) -> None:
    res = files(tmp_path, 2)
    res["f0"]["depends_on"] = ["f1"]
    res["f1"]["depends_on"] = ["f0"]
    err = _bad(tmp_path, res)
    assert "cycle" in err and "f0" in err and "f1" in err


def test_corrupt_state_file(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1))
    (tmp_path / ".driftless").mkdir()
    (tmp_path / ".driftless" / "state.db").write_bytes(b"this is not a database" * 100)
    out = run(tmp_path, "plan")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "state.db" in out.stderr


def test_unwritable_state_dir(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1))
    (tmp_path / ".driftless").write_text("a file where the state directory should be")
    out = run(tmp_path, "apply", "--auto-approve")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert ".driftless" in out.stderr
    assert not (tmp_path / "out").exists()
