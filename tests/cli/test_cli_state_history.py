"""``driftless state history`` and ``state restore`` through the real CLI (SQLite snapshots).

The SQLite backend keeps each stack's last N snapshots (``?history=N`` on the
state URL, default 10); a restore writes a kept one back as the next serial,
under the lock, and the next plan compares it with the world as usual.
Encrypted state stays encrypted in its snapshots, and no secret is stored in
clear in them (packed rows are inflated before the search).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cli_helpers import run, write_project
from driftless.model import LockInfo
from driftless.state.packed import inflate_all
from driftless.state.sqlite import SQLiteBackend

SECRET = "hunter2-canary-6f1d0c"
MARK = "marker-7c2a51"  # a clear value in paths and outputs: sealed when a key is set


def _project(root: Path, version: int, *, url: str = "sqlite:///.driftless/state.db",
             keep: tuple[int, ...] = (0, 1, 2)) -> Path:
    out = root / "out"
    resources: dict[str, Any] = {
        f"f{i}": {"type": "local:file",
                  "properties": {"path": str(out / f"{MARK}-{i}.txt"),
                                 "content": f"v{version} {i}\n", "make_parents": True}}
        for i in keep}
    resources["token"] = {"type": "local:file", "properties": {
        "path": str(out / "token.txt"), "content": "${secret.env:HISTORY_TOKEN}",
        "make_parents": True}}
    write_project(root, resources, extra={"state": url})
    stack = root / "stacks" / "main" / "stack.yaml"
    stack.write_text(stack.read_text() + f"outputs:\n  where: {MARK}-v{version}\n")
    return root


def _history(root: Path) -> list[dict[str, Any]]:
    proc = run(root, "state", "history", "--json", check=True)
    out: list[dict[str, Any]] = json.loads(proc.stdout)
    return out


def _pull(root: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(run(root, "state", "pull", "main", check=True).stdout)
    return doc


def _state_bytes(root: Path) -> bytes:
    raw = b"".join(p.read_bytes() for p in sorted((root / ".driftless").iterdir())
                   if p.name.startswith("state.db"))
    return raw + b"\n" + inflate_all(raw)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HISTORY_TOKEN", SECRET)
    monkeypatch.delenv("DRIFTLESS_STATE_KEY", raising=False)


def test_history_lists_snapshots_and_restore_brings_one_back(tmp_path: Path) -> None:
    root = _project(tmp_path, 1)
    run(root, "apply", "--auto-approve", check=True)
    first = _pull(root)
    _project(root, 2, keep=(0, 1))  # f1 changes, f2 goes
    run(root, "apply", "--auto-approve", check=True)
    kept = _history(root)
    assert [(h["serial"], h["resources"]) for h in kept] == [(2, 3), (1, 4)]
    assert all(h["writer"].endswith(": apply") for h in kept)
    text = run(root, "state", "history", check=True).stdout
    assert "serial 2" in text and "(current)" in text and "4 resources" in text

    refused = run(root, "state", "restore", "--stack", "main", "--serial", "1")
    assert refused.returncode == 1 and "confirmation" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _pull(root)["serial"] == 2, "a refused restore writes nothing"

    done = run(root, "state", "restore", "--stack", "main", "--serial", "1", "--auto-approve",
               check=True)
    assert "+ 1 back in state: local:file/f2" in done.stdout
    assert "restored stack 'main' to serial 1 as serial 3" in done.stdout
    restored = _pull(root)
    assert restored["serial"] == 3 and restored["lineage"] == first["lineage"]
    assert restored["resources"] == first["resources"]
    assert restored["outputs"] == first["outputs"]
    assert _history(root)[0]["writer"].endswith(": state restore of serial 1")
    recorded = run(root, "history", "main", "--json", check=True).stdout
    assert "state-restore" in recorded and "restored to serial 1" in recorded

    # The restored state plans as usual: f2 is recorded again but no longer
    # configured (and gone from disk), f1's recorded inputs are the old ones.
    plan = run(root, "plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "local:file/f2" in plan.stdout
    run(root, "apply", "--auto-approve", check=True)
    assert run(root, "plan", "--detailed-exitcode").returncode == 0
    raw = _state_bytes(root)
    assert MARK.encode() in raw, "control: the search sees clear (packed) values"
    assert SECRET.encode() not in raw, "a secret reached state in clear"


def test_history_keeps_the_last_n_and_says_which(tmp_path: Path) -> None:
    url = "sqlite:///.driftless/state.db?history=3"
    for version in range(1, 6):
        _project(tmp_path, version, url=url)
        run(tmp_path, "apply", "--auto-approve", check=True)
    assert [h["serial"] for h in _history(tmp_path)] == [5, 4, 3]
    old = run(tmp_path, "state", "restore", "--stack", "main", "--serial", "2",
              "--auto-approve")
    assert old.returncode == 1 and "not among its kept snapshots (3-5)" in old.stderr
    assert "?history=N" in old.stderr
    # Only the row versions the kept snapshots need stay: those of serials 4 and 5.
    db = sqlite3.connect(tmp_path / ".driftless" / "state.db")
    died = sorted({r[0] for r in db.execute("SELECT died FROM snapshot_rows")})
    db.close()
    assert died == [4, 5]
    _project(tmp_path, 5, url="sqlite:///.driftless/state.db?history=lots")
    wrong = run(tmp_path, "state", "history")
    assert wrong.returncode == 1 and "history=lots is not a number" in wrong.stderr
    _project(tmp_path, 5, url="sqlite:///.driftless/state.db?history=101")
    wrong = run(tmp_path, "state", "history")  # driftless.yaml is the repository's
    assert wrong.returncode == 1 and "from 0 to 100" in wrong.stderr


def test_restore_is_refused_while_another_run_holds_the_lock(tmp_path: Path) -> None:
    root = _project(tmp_path, 1)
    run(root, "apply", "--auto-approve", check=True)
    holder = SQLiteBackend(root / ".driftless" / "state.db")
    info = LockInfo.new("apply")  # this test process: alive, so not taken over
    holder.lock("main", info)
    try:
        proc = run(root, "state", "restore", "--stack", "main", "--serial", "1",
                   "--auto-approve")
    finally:
        holder.unlock("main", info.id)
        holder.close()
    assert proc.returncode == 1 and "locked by" in proc.stderr, proc.stderr
    assert f"pid {os.getpid()}" in proc.stderr
    assert _pull(root)["serial"] == 1


def test_encrypted_snapshots_stay_encrypted_and_restore_with_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:correct horse battery staple")
    root = _project(tmp_path, 1)
    run(root, "apply", "--auto-approve", check=True)
    first = _pull(root)
    _project(root, 2, keep=(0,))
    run(root, "apply", "--auto-approve", check=True)
    raw = _state_bytes(root)
    assert b"snapshot_rows" in raw
    for value in (MARK, SECRET, "v1 0"):
        assert value.encode() not in raw, f"{value} is in clear in state or its snapshots"

    monkeypatch.delenv("DRIFTLESS_STATE_KEY")
    no_key = run(root, "state", "restore", "--stack", "main", "--serial", "1", "--auto-approve")
    assert no_key.returncode == 1 and "DRIFTLESS_STATE_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr
    assert [h["serial"] for h in _history(root)] == [2, 1], "the list itself is not secret"

    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:correct horse battery staple")
    run(root, "state", "restore", "--stack", "main", "--serial", "1", "--auto-approve",
        check=True)
    restored = _pull(root)
    assert restored["resources"] == first["resources"] and restored["serial"] == 3
    raw = _state_bytes(root)
    for value in (MARK, SECRET, "v1 0"):
        assert value.encode() not in raw, f"{value} is in clear after the restore"


def test_rekey_to_a_key_drops_snapshots_written_in_clear(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, 1)
    run(root, "apply", "--auto-approve", check=True)
    _project(root, 2)
    run(root, "apply", "--auto-approve", check=True)
    assert MARK.encode() in _state_bytes(root), "control: clear state shows the marker"
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:correct horse battery staple")
    run(root, "state", "rekey", check=True)
    assert [h["serial"] for h in _history(root)] == [3]
    assert MARK.encode() not in _state_bytes(root), "a clear snapshot outlived the rekey"
    run(root, "state", "restore", "--stack", "main", "--serial", "3", "--auto-approve",
        check=True)
