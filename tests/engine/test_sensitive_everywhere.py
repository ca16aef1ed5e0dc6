"""A secret is a value, not a place: a canary given as a sensitive --var must
not reach state.db (+ WAL), state show/pull, plan files or CLI output; it must
reach the target file. Also: the per-operator digest key and its migration."""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run, write_project
from driftless.model import Sensitive, sensitive_digest
from driftless.model.digest_key import KEY_ENV, KEY_FILE_ENV, current_key, default_key_path
from driftless.model.redact import digest_candidates, rekey, scrub
from driftless.model.values import digest_key_of, is_legacy_digest, legacy_digest
from driftless.state.packed import inflate_all

SECRET_VAR = {"s": {"type": "string", "sensitive": True}}


@pytest.fixture(autouse=True)
def _digest_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test digests with a key file of its own, never the real home's."""
    key = tmp_path / "_keys" / "digest.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(key))
    monkeypatch.delenv(KEY_ENV, raising=False)
    yield key


def canary() -> str:
    return f"CANARY-{secrets.token_hex(8)}"


def _inflated(raw: bytes) -> bytes:
    """A state file as a scanner must read it: state rows are stored deflated."""
    return raw + b"\n" + inflate_all(raw)


def leaks(root: Path, secret: str, *texts: str) -> list[str]:
    """Every place outside the target that holds ``secret``."""
    found = [t[:80] for t in texts if secret in t]
    for suffix in ("", "-wal", "-shm"):
        db = root / ".driftless" / f"state.db{suffix}"
        if db.exists() and secret.encode() in _inflated(db.read_bytes()):
            found.append(db.name)
    pulled = run(root, "state", "pull", "main", check=True).stdout
    if secret in pulled:
        found.append("state pull")
    for res in json.loads(pulled)["resources"]:
        shown = run(root, "state", "show", res["address"]).stdout
        if secret in shown:
            found.append(f"state show {res['address']}")
    return found


def test_env_file_secret_digested_and_no_perpetual_diff(tmp_path: Path) -> None:
    secret, target = canary(), tmp_path / "out" / "app.env"
    write_project(tmp_path, {"env": {"type": "local:env_file", "properties": {
        "path": str(target), "values": {"TOKEN": "${var.s}", "MODE": "prod"},
        "make_parents": True}}},
        variables=SECRET_VAR)
    applied = run(tmp_path, "apply", "--auto-approve", "--var", f"s={secret}", check=True)
    assert secret in target.read_text()
    again = run(tmp_path, "plan", "--detailed-exitcode", "--var", f"s={secret}")
    assert again.returncode == 0, again.stdout + again.stderr
    changed = run(tmp_path, "plan", "--detailed-exitcode", "--var", f"s={canary()}")
    assert changed.returncode == 2 and "(sensitive)" in changed.stdout
    assert leaks(tmp_path, secret, applied.stdout, applied.stderr, again.stdout,
                 changed.stdout, changed.stderr) == []


def test_command_masks_inline_secret_before_cutting_output(tmp_path: Path) -> None:
    secret = canary()
    # the secret straddles the 4,096-byte cut: only its last 6 bytes fall inside
    cmd = "printf '%s' '${var.s}'; head -c 4090 /dev/zero | tr '\\0' y"
    write_project(tmp_path, {"c": {"type": "local:command", "properties": {"command": cmd}}},
                  variables=SECRET_VAR)
    applied = run(tmp_path, "apply", "--auto-approve", "--var", f"s={secret}", check=True)
    noop = run(tmp_path, "plan", "--detailed-exitcode", "--var", f"s={secret}")
    assert noop.returncode == 0, noop.stdout + noop.stderr
    assert leaks(tmp_path, secret, applied.stdout, applied.stderr) == []
    assert leaks(tmp_path, secret[-6:]) == []


def test_failing_command_quotes_masked_stderr(tmp_path: Path) -> None:
    secret = canary()
    write_project(tmp_path, {"c": {"type": "local:command", "properties": {
        "command": "echo \"token is $T\" >&2; exit 3", "env": {"T": "${var.s}"}}}},
        variables=SECRET_VAR)
    failed = run(tmp_path, "apply", "--auto-approve", "--var", f"s={secret}")
    assert failed.returncode == 1 and "token is (sensitive)" in failed.stdout + failed.stderr
    assert secret not in failed.stdout + failed.stderr


def test_failing_service_log_lines_are_masked(tmp_path: Path) -> None:
    secret = canary()
    write_project(tmp_path, {"svc": {"type": "local:service", "properties": {
        "command": ["/bin/sh", "-c", "echo \"starting with $TOKEN\"; echo ${var.s}; exit 4"],
        "env": {"TOKEN": "${var.s}"}, "restart": "never",
        "state_dir": str(tmp_path / "svc")}}}, variables=SECRET_VAR)
    failed = run(tmp_path, "apply", "--auto-approve", "--var", f"s={secret}")
    out = failed.stdout + failed.stderr
    assert failed.returncode == 1 and "(sensitive)" in out, out
    assert secret not in out
    assert leaks(tmp_path, secret) == []


def test_saved_plan_keeps_secret_vars_as_digests(tmp_path: Path) -> None:
    secret, target = canary(), tmp_path / "out" / "f.txt"
    write_project(tmp_path, {"f": {"type": "local:file", "properties": {
        "path": str(target), "content": "token=${var.s}\n", "make_parents": True}}},
        variables=SECRET_VAR)
    plan_file = tmp_path / "plan.json"
    planned = run(tmp_path, "plan", "-out", str(plan_file), "--var", f"s={secret}", check=True)
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    text = plan_file.read_text()
    assert secret not in text and "sensitive_variables" in text
    missing = run(tmp_path, "apply", str(plan_file))
    assert missing.returncode == 1 and "sensitive variable 's'" in missing.stderr
    wrong = run(tmp_path, "apply", str(plan_file), "--var", f"s={canary()}")
    assert wrong.returncode == 1 and "not the value" in wrong.stderr
    assert not target.exists()
    ok = run(tmp_path, "apply", str(plan_file), "--var", f"s={secret}")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert target.read_text() == f"token={secret}\n"
    assert leaks(tmp_path, secret, planned.stdout, planned.stderr, missing.stderr,
                 wrong.stderr, ok.stdout, ok.stderr) == []


def test_plan_file_replaces_an_old_world_readable_file(tmp_path: Path) -> None:
    write_project(tmp_path, {}, variables=SECRET_VAR)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text("old")
    plan_file.chmod(0o644)
    run(tmp_path, "plan", "-out", str(plan_file), "--var", f"s={canary()}", check=True)
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600


def test_digest_key_file_created_0600_under_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_FILE_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = default_key_path()
    assert path == tmp_path / "xdg" / "driftless" / "digest.key"
    digest = sensitive_digest("x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert digest_key_of(digest) == current_key().id
    assert sensitive_digest("x") == digest  # stable once created


def test_operator_key_changes_every_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    by_file = sensitive_digest("hunter22")
    monkeypatch.setenv(KEY_ENV, "an operator key of enough length")
    by_env = sensitive_digest("hunter22")
    assert by_env != by_file and digest_key_of(by_env) != digest_key_of(by_file)
    assert by_env != legacy_digest("hunter22")
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(Exception, match="shorter than 16"):
        sensitive_digest("x")


def test_rekey_rewrites_only_legacy_digests_of_known_values() -> None:
    props = {"env": {"A": Sensitive("s3cret-a")}, "flag": True}
    attrs = {"env": {"A": legacy_digest("s3cret-a"), "B": legacy_digest("other")},
             "flag": legacy_digest("true")}
    out = rekey(attrs, digest_candidates(props))
    assert out["env"]["A"] == sensitive_digest("s3cret-a")
    assert is_legacy_digest(out["env"]["B"])  # a changed secret still shows as a diff
    assert out["flag"] == sensitive_digest("true")
    assert scrub({"cmd": "echo s3cret-a"}, ("s3cret-a",)) == {
        "cmd": sensitive_digest("echo s3cret-a")}


def _to_legacy(doc: Any, table: dict[str, str]) -> Any:
    if isinstance(doc, str):
        return table.get(doc, doc)
    if isinstance(doc, dict):
        return {k: _to_legacy(v, table) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_to_legacy(v, table) for v in doc]
    return doc


def test_state_digested_with_the_old_key_migrates_without_a_diff(tmp_path: Path) -> None:
    secret, target = canary(), tmp_path / "out" / "app.env"
    write_project(tmp_path, {
        "env": {"type": "local:env_file", "properties": {
            "path": str(target), "values": {"TOKEN": "${var.s}"}, "make_parents": True}},
        "c": {"type": "local:command", "properties": {
            "command": "true", "env": {"T": "${var.s}"}}}}, variables=SECRET_VAR)
    run(tmp_path, "apply", "--auto-approve", "--var", f"s={secret}", check=True)
    # rewrite state as a version with the compiled-in key would have written it
    pulled = json.loads(run(tmp_path, "state", "pull", "main", check=True).stdout)
    table = {sensitive_digest(v): legacy_digest(v) for v in (secret, "TOKEN", str(target))}
    old = _to_legacy(pulled, table)
    assert "hmac-sha256:" in json.dumps(old) and json.dumps(old) != json.dumps(pulled)
    (tmp_path / "old.json").write_text(json.dumps(old))
    run(tmp_path, "state", "push", "main", str(tmp_path / "old.json"), check=True)
    plan = run(tmp_path, "plan", "--detailed-exitcode", "--var", f"s={secret}")
    assert plan.returncode == 0, plan.stdout + plan.stderr  # no re-run, no rewrite
    now = run(tmp_path, "state", "pull", "main", check=True).stdout
    assert not any(is_legacy_digest(v) for v in _strings(json.loads(now)))
    assert sensitive_digest(secret) in now


def _strings(doc: Any) -> Iterator[str]:
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from _strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _strings(v)


def test_key_file_env_is_honoured_by_the_cli(tmp_path: Path, _digest_key: Path) -> None:
    write_project(tmp_path, {"env": {"type": "local:env_file", "properties": {
        "path": str(tmp_path / "x.env"), "values": {"A": "${var.s}"}}}}, variables=SECRET_VAR)
    run(tmp_path, "apply", "--auto-approve", "--var", f"s={canary()}", check=True)
    assert _digest_key.exists() and stat.S_IMODE(_digest_key.stat().st_mode) == 0o600
    assert os.environ[KEY_FILE_ENV] == str(_digest_key)
