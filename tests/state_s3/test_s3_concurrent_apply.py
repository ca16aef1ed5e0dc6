"""Acceptance: bootstrap from nothing, then two processes apply at once through S3.

Real CLI processes, real moto server: one apply holds the S3 lock while a
slow command runs; the other fails at once naming the holder; the state's
serial only grows and no resource is lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from driftless.render import load_project
from driftless.state import open_backend

STACK = """\
variables:
  greeting: {type: string, default: hello}
  delay: {type: string, default: "3"}
resources:
  slow:
    type: local:command
    properties:
      command: "sleep ${var.delay}; echo ${var.greeting} > %(out)s/slow.txt"
      triggers: {greeting: "${var.greeting}"}
  one:
    type: local:file
    properties: {path: "%(out)s/one.txt", content: "${var.greeting} one"}
  two:
    type: local:file
    properties: {path: "%(out)s/two.txt", content: "${var.greeting} two"}
"""


def _run(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLESS_")}
    return subprocess.Popen([sys.executable, "-m", "driftless", *args, "-C", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _done(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def test_bootstrap_then_two_applies_race(tmp_path: Path, aws_creds: str) -> None:
    root, out = tmp_path / "proj", tmp_path / "out"
    (root / "app").mkdir(parents=True)
    out.mkdir()
    (root / "driftless.yaml").write_text("project: race\nstacks:\n  - app\n")
    (root / "app" / "stack.yaml").write_text(STACK % {"out": out})
    url = f"s3://race-{uuid.uuid4().hex[:10]}/race?region=us-east-1&endpoint={aws_creds}"

    code, text = _done(_run(root, "bootstrap", "--backend", url, "--lock-table", "race-locks"))
    assert code == 0, text
    assert "Bootstrap complete" in text and "aws:s3.Bucket/state" in text

    code, text = _done(_run(root, "bootstrap", "--backend", url, "--lock-table", "race-locks"))
    assert code == 0 and "Nothing to do" in text, text

    first, second = (_run(root, "apply", "--auto-approve") for _ in range(2))
    results = [_done(first), _done(second)]
    codes = sorted(c for c, _ in results)
    assert codes == [0, 1], results
    loser = next(t for c, t in results if c == 1)
    assert "stack 'app' is locked by" in loser and "(apply, pid " in loser, loser
    assert "driftless state unlock app --force" in loser

    backend = open_backend(load_project(root).state_url, root=root)
    snap = backend.read("app")
    assert snap.serial == 1 and len(snap.resources) == 3
    assert backend.lock_info("app") is None

    code, text = _done(_run(root, "apply", "--auto-approve",
                            "--var", "greeting=bye", "--var", "delay=0"))
    assert code == 0, text
    after = backend.read("app")
    assert (after.lineage, after.serial) == (snap.lineage, 2) and len(after.resources) == 3
    assert (out / "one.txt").read_text() == "bye one"
    assert (out / "slow.txt").read_text().strip() == "bye"


def test_state_migrate_cli_copies_then_finds_it_identical(tmp_path: Path, aws_creds: str,
                                                          bucket: str) -> None:
    from driftless.model import ResourceId, ResourceState

    local = open_backend("sqlite:///state.db", root=tmp_path)
    rid = ResourceId("local", "file", "a")
    local.write("web", local.read("web").next({rid: ResourceState(rid, {"x": 1})}))
    url = f"s3://{bucket}/m?endpoint={aws_creds}"
    code, text = _done(_run(tmp_path, "state", "migrate", "sqlite:///state.db", url))
    assert code == 0 and "web: copied (serial 1)" in text and "1 copied" in text, text
    code, text = _done(_run(tmp_path, "state", "migrate", "sqlite:///state.db", url))
    assert code == 0 and "already there, identical" in text and "0 copied" in text, text
    assert open_backend(url, root=tmp_path).read("web").lineage == local.read("web").lineage
    code, text = _done(_run(tmp_path, "state", "migrate", url, url))
    assert code == 1 and "the same state" in text and "Traceback" not in text
