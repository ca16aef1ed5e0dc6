"""import, state list/show/mv/rm, output and --json through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import files, run, write_project


def test_import_adopts_an_existing_file(tmp_path: Path) -> None:
    res = files(tmp_path, 1)
    write_project(tmp_path, res)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f0.txt").write_text("content 0\n")
    out = run(tmp_path, "import", "local:file/f0", str(tmp_path / "out" / "f0.txt"))
    assert out.returncode == 0, out.stderr
    listed = json.loads(run(tmp_path, "state", "list", "--json", check=True).stdout)
    assert [r["address"] for r in listed] == ["local:file/f0"]
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0
    again = run(tmp_path, "import", "local:file/f0", str(tmp_path / "out" / "f0.txt"))
    assert again.returncode == 1 and "already managed" in again.stderr


def test_import_of_undeclared_address_is_refused(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1))
    out = run(tmp_path, "import", "local:file/nope", "/etc/hostname")
    assert out.returncode == 1 and "not declared" in out.stderr


def test_state_show_mv_rm(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 2))
    run(tmp_path, "apply", "--auto-approve", check=True)
    shown = json.loads(run(tmp_path, "state", "show", "local:file/f1", "--json", check=True).stdout)
    assert shown["attributes"]["path"].endswith("f1.txt")
    run(tmp_path, "state", "mv", "local:file/f1", "local:file/g1", check=True)
    listed = run(tmp_path, "state", "list", check=True).stdout
    assert "local:file/g1" in listed and "local:file/f1" not in listed
    run(tmp_path, "state", "rm", "local:file/g1", check=True)
    assert (tmp_path / "out" / "f1.txt").exists(), "state rm never touches the object"
    bad = run(tmp_path, "state", "show", "local:file/zzz")
    assert bad.returncode == 1 and "not in state" in bad.stderr


def test_outputs_resolve_references_after_apply(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 1), extra={})
    stack = tmp_path / "stacks" / "main" / "stack.yaml"
    stack.write_text(stack.read_text() + "outputs:\n  where: ${f0.path}\n")
    run(tmp_path, "apply", "--auto-approve", check=True)
    out = json.loads(run(tmp_path, "output", "--json", check=True).stdout)
    assert out["main"]["where"] == str(tmp_path / "out" / "f0.txt")
    one = run(tmp_path, "output", "where", check=True).stdout.strip()
    assert one == str(tmp_path / "out" / "f0.txt")


def test_validate_json_lists_problems_and_exits_1(tmp_path: Path) -> None:
    res = files(tmp_path, 1)
    res["f0"]["properties"]["colour"] = "blue"
    write_project(tmp_path, res)
    out = run(tmp_path, "validate", "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == 1 and doc["valid"] is False
    (problem,) = doc["problems"]
    assert "colour" in problem["message"] and problem["file"].endswith("stack.yaml")
    assert problem["line"] > 0


def test_state_pull_then_push_restores_a_backup(tmp_path: Path) -> None:
    write_project(tmp_path, files(tmp_path, 2))
    run(tmp_path, "apply", "--auto-approve", check=True)
    backup = tmp_path / "backup.json"
    backup.write_text(run(tmp_path, "state", "pull", "main", check=True).stdout)
    run(tmp_path, "state", "rm", "local:file/f1", check=True)
    pushed = run(tmp_path, "state", "push", "main", str(backup))
    assert pushed.returncode == 0, pushed.stderr
    assert "local:file/f1" in run(tmp_path, "state", "list", check=True).stdout
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0
    foreign = json.loads(backup.read_text())
    foreign["lineage"] = "0" * 32
    backup.write_text(json.dumps(foreign))
    refused = run(tmp_path, "state", "push", "main", str(backup))
    assert refused.returncode == 1 and "another lineage" in refused.stderr
    assert run(tmp_path, "state", "push", "main", str(backup), "--force").returncode == 0
