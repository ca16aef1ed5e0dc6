"""``driftless init`` scaffolds a project that plans and applies as written."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cli_helpers import CLI, run


def _init(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "init", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_init_then_plan_and_apply_work_as_printed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _init(tmp_path, "my-app")
    assert done.returncode == 0, done.stderr
    root = tmp_path / "my-app"
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} == {
        "driftless.yaml", "stacks/app/stack.yaml", ".gitignore"}
    assert "driftless -C my-app plan" in done.stdout
    assert ".driftless/" in (root / ".gitignore").read_text().splitlines()
    plan = run(root, "plan", "--var", f"out_dir={out}", check=True)
    assert "+ local:file/hello" in plan.stdout
    run(root, "apply", "--auto-approve", "--var", f"out_dir={out}", check=True)
    assert (out / "hello.txt").read_text() == "Hello from my-app\n"
    assert "No changes" in run(root, "plan", "--var", f"out_dir={out}", check=True).stdout


def test_init_refuses_an_existing_project_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "driftless.yaml").write_text("project: mine\n")
    done = _init(tmp_path, ".")
    assert done.returncode == 1
    assert "driftless.yaml already exists; nothing was written" in done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "driftless.yaml").read_text() == "project: mine\n"
    assert not (tmp_path / "stacks").exists() and not (tmp_path / ".gitignore").exists()


def test_init_keeps_an_existing_gitignore_and_adds_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n.driftless/\n")
    assert _init(tmp_path, ".", "--name", "shop").returncode == 0
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["node_modules/", ".driftless/"]
    assert lines.count(".driftless/") == 1 and "*.plan.json" in lines
    assert "project: shop" in (tmp_path / "driftless.yaml").read_text()


def test_a_bad_name_is_a_clear_error(tmp_path: Path) -> None:
    done = _init(tmp_path, "x", "--name", "Bad Name!")
    assert done.returncode == 1 and "'Bad Name!' is not a valid project name" in done.stderr
    assert not (tmp_path / "x").exists()


def test_outside_a_project_the_error_points_at_init_which_exists(tmp_path: Path) -> None:
    done = run(tmp_path, "plan")
    assert done.returncode == 1 and "driftless init" in done.stderr
    assert _init(tmp_path, ".").returncode == 0
