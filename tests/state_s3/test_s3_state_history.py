"""``driftless state history`` / ``state restore`` on S3 state: the bucket's object versions.

Every write of a stack is a version of ``<key>/<stack>.json`` carrying its
serial, resource count and writer as metadata; history lists the newest,
restore writes one back as the next serial, under the lock. Encrypted state
stays sealed in every version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import files, run, write_project

MARK = "marker-5e0c11"


def _history(root: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(
        run(root, "state", "history", "--json", check=True).stdout)
    return out


def _pull(root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(root, "state", "pull", "main", check=True).stdout)
    return doc


def _marked(root: Path, n: int) -> dict[str, Any]:
    """Files whose paths (sealed in state; addresses stay clear) hold ``MARK``."""
    return {f"f{i}": {"type": "local:file", "properties": {
        "path": str(root / "out" / f"{MARK}-{i}.txt"), "content": f"{MARK} {i}\n",
        "make_parents": True}} for i in range(n)}


def test_history_lists_versions_and_restore_writes_one_back(tmp_path: Path, s3_url: str,
                                                           s3_client: Any, bucket: str) -> None:
    write_project(tmp_path, files(tmp_path, 3), extra={"state": s3_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    first = _pull(tmp_path)
    write_project(tmp_path, files(tmp_path, 1), extra={"state": s3_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    kept = _history(tmp_path)
    assert [(h["serial"], h["resources"]) for h in kept] == [(2, 1), (1, 3)]
    assert all(h["writer"].endswith(": apply") for h in kept)

    done = run(tmp_path, "state", "restore", "--stack", "main", "--serial", "1",
               "--auto-approve", check=True)
    assert "+ 2 back in state" in done.stdout
    restored = _pull(tmp_path)
    assert restored["serial"] == 3 and restored["resources"] == first["resources"]
    assert _history(tmp_path)[0]["writer"].endswith(": state restore of serial 1")
    missing = run(tmp_path, "state", "restore", "--stack", "main", "--serial", "9",
                  "--auto-approve")
    assert missing.returncode == 1 and "serial 9 is not among the 3 versions" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_encrypted_versions_stay_sealed_and_restore_with_the_key(
        tmp_path: Path, s3_url: str, s3_client: Any, bucket: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:correct horse battery staple")
    write_project(tmp_path, _marked(tmp_path, 2), extra={"state": s3_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    first = _pull(tmp_path)
    write_project(tmp_path, _marked(tmp_path, 1), extra={"state": s3_url})
    run(tmp_path, "apply", "--auto-approve", check=True)
    listed = s3_client.list_object_versions(Bucket=bucket)["Versions"]
    bodies = [s3_client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
              ["Body"].read() for v in listed if v["Key"].endswith("main.json")]
    assert len(bodies) == 2 and not any(MARK.encode() in b for b in bodies)
    monkeypatch.delenv("DRIFTLESS_STATE_KEY")
    no_key = run(tmp_path, "state", "restore", "--stack", "main", "--serial", "1",
                 "--auto-approve")
    assert no_key.returncode == 1 and "DRIFTLESS_STATE_KEY" in no_key.stderr
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:correct horse battery staple")
    run(tmp_path, "state", "restore", "--stack", "main", "--serial", "1", "--auto-approve",
        check=True)
    assert _pull(tmp_path)["resources"] == first["resources"]

