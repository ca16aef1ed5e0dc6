"""Policy checks through the real ``plan``: errors fail it, warnings show,
suppressions need a reason, YAML rules from the project, Python rules from
the operator, and the markdown and JSON forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_helpers import run, write_project

_KEY_ID = "AKIA" + "Q3EXAMPLE7VWXYZQ"  # shaped like an AWS key id, split so scanners pass


def _file(tmp_path: Path, content: str, mode: str = "0644") -> dict[str, Any]:
    return {"type": "local:file", "properties": {
        "path": str(tmp_path / "out" / "f.txt"), "content": content, "mode": mode,
        "make_parents": True}}


def test_error_fails_plan_and_suppression_lets_it_pass(tmp_path: Path) -> None:
    write_project(tmp_path, {"creds": _file(tmp_path, f"key={_KEY_ID}\n")})
    failed = run(tmp_path, "plan", "-out", str(tmp_path / "p.json"))
    assert failed.returncode == 1
    assert "error DL005 local:file/creds: content holds what looks like a aws-access-key-id" \
        in failed.stderr
    assert _KEY_ID not in failed.stderr, "findings never quote the secret"
    assert not (tmp_path / "p.json").exists(), "a failing plan is not saved"
    checks = {"checks": {"suppress": [{"rule": "DL005", "address": "local:file/creds",
                                       "reason": "the documented example key"}]}}
    write_project(tmp_path, {"creds": _file(tmp_path, f"key={_KEY_ID}\n")},
                  extra={"settings": checks})
    ok = run(tmp_path, "plan", check=True)
    assert "suppressed: the documented example key" in ok.stderr
    assert "Checks: 0 error(s), 0 warning(s), 1 suppressed." in ok.stdout


def test_suppression_without_reason_is_refused(tmp_path: Path) -> None:
    checks = {"checks": {"suppress": [{"rule": "DL005"}]}}
    write_project(tmp_path, {"a": _file(tmp_path, "x\n")}, extra={"settings": checks})
    out = run(tmp_path, "plan")
    assert out.returncode == 1 and "needs a rule and a reason" in out.stderr
    assert "Traceback" not in out.stderr


def test_yaml_rule_warning_and_error(tmp_path: Path) -> None:
    rules = [{"id": "acme.private-files", "severity": "warning", "message": "files are private",
              "match": {"type": "local:file"}, "require": [{"path": "mode", "equals": "0600"}]},
             {"id": "acme.srv-only", "message": "files live under /srv",
              "match": {"type": "local:*"},
              "require": [{"path": "path", "matches": "^/srv/"}]}]
    write_project(tmp_path, {"a": _file(tmp_path, "x\n")},
                  extra={"settings": {"checks": {"rules": rules}}})
    out = run(tmp_path, "plan", "--format", "json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    found = {f["rule"]: f for f in doc["checks"]["findings"]}
    assert found["acme.private-files"]["severity"] == "warning"
    assert "expected mode equals '0600'" in found["acme.private-files"]["message"]
    assert found["acme.srv-only"]["severity"] == "error"
    assert doc["plans"][0]["stack"] == "main"


def test_python_rule_from_the_operator(tmp_path: Path) -> None:
    rules = tmp_path / "ops_rules.py"
    rules.write_text(
        "from driftless.checks import rule\n\n"
        "@rule('ops.short-content', severity='error', title='content is short')\n"
        "def short(subject):\n"
        "    if len(str(subject.get('content', ''))) > 5:\n"
        "        yield 'content longer than 5 characters'\n")
    project = tmp_path / "p"
    write_project(project, {"a": _file(project, "long content\n", "0600")})
    assert run(project, "plan").returncode == 0
    out = run(project, "plan", "--checks", str(rules), "--format", "markdown")
    assert out.returncode == 1
    assert "| error | ops.short-content | `local:file/a` | content longer than 5" in out.stdout
    assert out.stdout.startswith("## driftless plan")
    assert "+ local:file/a  create" in out.stdout
