"""The CLI on repositories that fail validation or try to reach beyond themselves:
exit 1 with a located message, nothing applied, no state file, no secret shown."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import yaml

from cli_helpers import run, write_project

CANARY = "CANARY-5e1f0c9a"


def test_failing_validate_and_plan_create_no_state_file(tmp_path: Path) -> None:
    write_project(tmp_path, {"f": {"type": "local:file",
                                   "properties": {"path": "/tmp/x", "content": "${var.nope}"}}})
    for command in ("validate", "plan", "apply"):
        proc = run(tmp_path, command, "--auto-approve") if command == "apply" else run(
            tmp_path, command)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "unknown variable 'var.nope'" in proc.stderr
    assert not (tmp_path / ".driftless").exists()


def test_another_applications_database_as_state_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    out = tmp_path / "out.txt"
    write_project(tmp_path, {"f": {"type": "local:file",
                                   "properties": {"path": str(out), "content": "x"}}},
                  extra={"state": "sqlite:///app.db"})
    proc = run(tmp_path, "apply", "--auto-approve")
    assert proc.returncode == 1 and "not a driftless state database" in proc.stderr
    assert db.read_bytes() == before and not out.exists()


def test_broken_second_stack_means_nothing_is_applied(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_project(tmp_path, {"a": {"type": "local:file", "properties": {
        "path": str(out / "a.txt"), "content": "a", "make_parents": True}}},
        extra={"stacks": ["stacks/main", "stacks/second"]})
    (tmp_path / "stacks" / "second").mkdir()
    (tmp_path / "stacks" / "second" / "stack.yaml").write_text(yaml.safe_dump({"resources": {
        "b": {"type": "local:file", "properties": {"path": str(out) + "/b\0.txt",
                                                   "content": "b"}}}}))
    proc = run(tmp_path, "apply", "--auto-approve")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr + proc.stdout
    assert "stacks/second/stack.yaml" in proc.stderr
    assert not out.exists()


def test_a_secret_in_a_failing_path_is_masked(tmp_path: Path) -> None:
    write_project(tmp_path, {"f": {"type": "local:file", "properties": {
        "path": f"{tmp_path}/missing/${{var.token}}/f.txt", "content": "x"}}},
        variables={"token": {"type": "string", "sensitive": True}})
    proc = run(tmp_path, "apply", "--auto-approve", "--var", f"token={CANARY}")
    assert proc.returncode == 1 and "local:file/f" in proc.stdout + proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    assert "(sensitive)" in proc.stdout + proc.stderr


def test_operator_flags_widen_reads_and_limits(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "motd").write_text("hello from shared\n")
    repo = tmp_path / "repo"
    write_project(repo, {"f": {"type": "local:file", "count": 3, "properties": {
        "path": f"{tmp_path}/out${{count.index}}", "content": f'${{file("{shared}/motd")}}'}}})
    refused = run(repo, "validate")
    assert refused.returncode == 1 and "outside the project" in refused.stderr
    assert "--allow-read" in refused.stderr
    ok = run(repo, "--allow-read", str(shared), "validate")
    assert ok.returncode == 0, ok.stderr
    limited = run(repo, "--allow-read", str(shared), "--limit", "instances=2", "validate")
    assert limited.returncode == 1 and "over the limit of 2 (instances)" in limited.stderr


def test_git_checkout_url_cannot_run_a_command_at_plan_time(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    write_project(tmp_path, {"app": {"type": "local:git_checkout", "properties": {
        "path": str(tmp_path / "app"), "repo": f"ext::sh -c touch% {marker}", "ref": "main"}}})
    subprocess.run(["git", "init", "-q", str(tmp_path / "app")], check=True)
    for command in (["plan"], ["apply", "--auto-approve"]):
        proc = run(tmp_path, *command)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "local:git_checkout/app" in proc.stderr + proc.stdout
        assert not marker.exists()


def test_a_fresh_multi_stack_project_plans_whole_then_applies_in_order(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_project(tmp_path, {"dir": {"type": "local:directory", "properties": {
        "path": str(out), "make_parents": True}}},
        extra={"stacks": ["stacks/main", "stacks/app"]})
    stack = (tmp_path / "stacks" / "main" / "stack.yaml")
    stack.write_text(stack.read_text() + f"outputs:\n  dir: {out}\n")
    (tmp_path / "stacks" / "app").mkdir()
    (tmp_path / "stacks" / "app" / "stack.yaml").write_text(yaml.safe_dump({"resources": {
        "conf": {"type": "local:file", "properties": {
            "path": "${stack.main.outputs.dir}/app.conf", "content": "x"}}}}))
    plan = run(tmp_path, "plan")
    assert plan.returncode == 0, plan.stderr
    assert "local:file/conf" in plan.stdout and "upstream stack" in plan.stdout
    assert "(known after apply)" in plan.stdout
    applied = run(tmp_path, "apply", "--auto-approve")
    assert applied.returncode == 0, applied.stderr
    assert (out / "app.conf").read_text() == "x"
    assert run(tmp_path, "plan", "--detailed-exitcode").returncode == 0
