"""Plans a person can read: text files diff as text, plain env values in clear.

Secrets keep their place: a sensitive file or env value is still only
``(sensitive)``, in the plan and in its JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli_helpers import run, write_project


def _resources(root: Path, config: str, level: str) -> dict[str, Any]:
    return {
        "conf": {"type": "local:file", "properties": {
            "path": str(root / "app.conf"), "content": config}},
        "env": {"type": "local:env_file", "properties": {
            "path": str(root / "app.env"),
            "values": {"LOG_LEVEL": level, "TOKEN": "${var.token}"}}},
    }


def _project(root: Path, config: str, level: str) -> None:
    write_project(root, _resources(root, config, level),
                  variables={"token": {"type": "string", "sensitive": True}})


CONFIG = "".join(f"line {i}\n" for i in range(1, 9))


def test_drift_in_a_text_file_shows_a_unified_diff(tmp_path: Path) -> None:
    _project(tmp_path, CONFIG, "info")
    run(tmp_path, "apply", "--auto-approve", "--var", "token=tok-s3cret", check=True)
    (tmp_path / "app.conf").write_text(CONFIG.replace("line 4\n", "line four, by hand\n"))
    out = run(tmp_path, "plan", "--var", "token=tok-s3cret", check=True).stdout
    assert "-line four, by hand" in out and "+line 4" in out
    assert "@@" in out and "sha256" not in out


def test_a_plain_env_value_is_shown_in_clear_and_a_secret_is_not(tmp_path: Path) -> None:
    _project(tmp_path, CONFIG, "info")
    run(tmp_path, "apply", "--auto-approve", "--var", "token=tok-s3cret", check=True)
    _project(tmp_path, CONFIG, "debug")
    out = run(tmp_path, "plan", "--var", "token=tok-s3cret-2", check=True)
    assert 'values.LOG_LEVEL: "info" → "debug"' in out.stdout
    assert 'values.TOKEN: "(sensitive)" → "(sensitive)"' in out.stdout
    as_json = run(tmp_path, "plan", "--json", "--var", "token=tok-s3cret-2", check=True).stdout
    for text in (out.stdout, out.stderr, as_json):
        assert "tok-s3cret" not in text


def test_a_sensitive_file_still_diffs_by_digest_only(tmp_path: Path) -> None:
    write_project(tmp_path, {"key": {"type": "local:file", "properties": {
        "path": str(tmp_path / "key.pem"), "content": "${var.key}"}}},
        variables={"key": {"type": "string", "sensitive": True}})
    run(tmp_path, "apply", "--auto-approve", "--var", "key=first\nsecret\n", check=True)
    (tmp_path / "key.pem").write_text("first\nedited\n")
    out = run(tmp_path, "plan", "--var", "key=first\nsecret\n", check=True).stdout
    assert "(sensitive)" in out and "secret" not in out.replace("(sensitive)", "")
    assert "edited" not in out
