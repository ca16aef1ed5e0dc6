"""Whole-state encryption: ``EncryptedBackend`` over SQLite, keys, rotation, rekey,
and the real CLI (apply, wrong keys, ``state rekey`` while another process holds the lock).

The conformance suite runs over the decorator; the storage checks open the
SQLite file itself (every byte of the database, its WAL and shared memory)
to prove no value reaches disk in clear text.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyrage
import pytest

from cli_helpers import run, write_project
from driftless.errors import ConfigError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.state import open_backend
from driftless.state.base import StateBackend
from driftless.state.crypto import (
    PassphraseKey,
    StateKey,
    StateKeyError,
    StateKeys,
    keys_from_env,
    parse_key,
)
from driftless.state.encrypted import EncryptedBackend, guard_clear
from driftless.state.packed import inflate_all, pack, unpack
from driftless.state.sqlite import SQLiteBackend
from driftless.state.testing import CHECKS, Check

SECRET = "s3cr3t-attribute-value"
OUTPUT = "0utput-value-in-clear"
INTENT = "intent-value-in-clear"


def _age() -> str:
    return str(pyrage.x25519.Identity.generate())


def _pass(phrase: str = "correct horse battery staple") -> PassphraseKey:
    """A passphrase key with cheap scrypt params: the tests derive many keys."""
    return PassphraseKey(phrase, log_n=10)


KEYS: dict[str, Callable[[], StateKey]] = {
    "age": lambda: parse_key(_age(), source="test"),
    "passphrase": _pass,
}


def _backend(path: Path, current: StateKey | None, fallback: StateKey | None = None
             ) -> EncryptedBackend:
    return EncryptedBackend(SQLiteBackend(path), StateKeys(current, fallback))


def _snapshot(n: int = 3, *, serial: int = 1, lineage: str | None = None) -> StateSnapshot:
    resources = {}
    for i in range(n):
        rid = ResourceId("local", "file", f"r{i}")
        resources[rid] = ResourceState(rid, {"path": f"/srv/{SECRET}-{i}"}, {"inode": i},
                                       {"content": SECRET}, protect=i == 0)
    return StateSnapshot(lineage or StateSnapshot.empty().lineage, serial, resources,
                         {"url": OUTPUT})


def _unchanged_view(db: Path) -> bytes:
    """The files' bytes without the header's change counters (offsets 24-27, 92-95).

    ``SQLiteBackend`` commits its schema check whenever it opens an existing
    file, which bumps those counters even for a read; every other byte must
    stay the same.
    """
    raw = bytearray(_disk_bytes(db))
    raw[24:28] = raw[92:96] = b"\0\0\0\0"
    return bytes(raw)


def _disk_bytes(db: Path) -> bytes:
    """Every byte of the database, its WAL, its shared memory and the row cache beside
    it, as a `strings` scan sees them, plus every packed (deflated) document in them
    inflated: packing is no cover."""
    beside = sorted(db.parent.glob(f".{db.name}.rows-*"))  # the decoded-row cache
    raw = b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), *beside)
                   if p.exists())
    return raw + b"\n" + inflate_all(raw)


@pytest.mark.parametrize("kind", sorted(KEYS))
@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_encrypted_sqlite_conforms(check: Check, kind: str, tmp_path: Path) -> None:
    key = KEYS[kind]()

    def make_backend() -> StateBackend:
        return _backend(tmp_path / "state.db", key)

    check(make_backend)


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_nothing_reaches_disk_in_clear(kind: str, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    backend = _backend(db, KEYS[kind]())
    snap = _snapshot()
    journal = backend.journal("web")
    seq = journal.begin("local:file/r0", "create", {"content": INTENT})
    journal.finish(seq, ok=True, live={"address": "local:file/r0", "attributes": {"x": SECRET}})
    backend.write("web", snap)
    assert backend.read("web") == snap
    raw = _disk_bytes(db)
    backend.close()
    assert list(db.parent.glob(f".{db.name}.rows-*")), "the write left its row cache"
    for value in (SECRET, OUTPUT, INTENT):
        assert value.encode() not in raw, f"{value} is stored in clear"
    assert b"local:file/r0" in raw, "addresses stay clear (rows per resource)"


def test_rows_stay_per_resource_and_unchanged_rows_keep_their_ciphertext(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    backend = _backend(db, _pass())
    first = _snapshot(3)
    backend.write("web", first)
    rows = dict(sqlite3.connect(db).execute("SELECT address, doc FROM resources"))
    rid = ResourceId("local", "file", "r1")
    changed = dict(first.resources)
    changed[rid] = ResourceState(rid, {"path": "/moved"})
    backend.write("web", first.next(changed))
    after = dict(sqlite3.connect(db).execute("SELECT address, doc FROM resources"))
    assert after["local:file/r0"] == rows["local:file/r0"]
    assert after["local:file/r2"] == rows["local:file/r2"]
    assert after["local:file/r1"] != rows["local:file/r1"]
    assert _backend(db, _pass()).read("web").resources[rid].attributes == {"path": "/moved"}


@pytest.mark.parametrize("given", ["none", "wrong"])
@pytest.mark.parametrize("kind", sorted(KEYS))
def test_missing_or_wrong_key_is_a_clear_error_and_writes_nothing(
        kind: str, given: str, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    writer = _backend(db, KEYS[kind]())
    writer.write("web", _snapshot())
    writer.journal("web").begin("local:file/r0", "create", {"content": INTENT})
    writer.close()
    before = _unchanged_view(db)
    reader: StateBackend
    if given == "none":
        reader = guard_clear(SQLiteBackend(db))
    else:
        reader = _backend(db, parse_key(_age(), source="t") if kind == "age"
                          else _pass("a wrong passphrase"))
    for attempt in (lambda: reader.read("web"),
                    lambda: reader.lock("web", LockInfo.new("apply")),
                    lambda: reader.journal("web").entries()):
        with pytest.raises(StateKeyError) as err:
            attempt()
        message = str(err.value)
        assert "stack 'web'" in message and ("age:" in message or "scrypt:" in message)
    assert reader.lock_info("web") is None
    reader.close()
    assert _unchanged_view(db) == before


def test_error_names_the_age_key_that_is_needed(tmp_path: Path) -> None:
    identity = pyrage.x25519.Identity.generate()
    writer = _backend(tmp_path / "state.db", parse_key(str(identity), source="t"))
    writer.write("web", _snapshot())
    with pytest.raises(StateKeyError) as err:
        _backend(tmp_path / "state.db", parse_key(_age(), source="t")).read("web")
    assert writer.keys.current is not None and writer.keys.current.kid in str(err.value)
    assert str(identity) not in str(err.value) and "AGE-SECRET" not in str(err.value)


def test_clear_state_is_read_and_the_next_write_encrypts_it(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    plain = SQLiteBackend(db)
    snap = _snapshot()
    plain.write("web", snap)
    plain.journal("web").begin("local:file/r0", "create", {"content": INTENT})
    plain.close()
    backend = _backend(db, _pass())
    assert backend.read("web") == snap
    assert backend.needs_rekey("web")
    backend.write("web", snap.next())
    stored = SQLiteBackend(db).read("web")
    assert all(set(rs.attributes) == {"$enc"} for rs in stored.resources.values())
    assert backend.read("web").resources == snap.resources
    assert backend.needs_rekey("web"), "the clear journal entry is still pending"


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_rotation_reads_with_the_fallback_and_writes_with_the_new_key(
        kind: str, tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    old, new = KEYS[kind](), (parse_key(_age(), source="t") if kind == "age"
                              else _pass("the new passphrase"))
    _backend(db, old).write("web", _snapshot())
    with pytest.raises(StateKeyError):
        _backend(db, new).read("web")
    rotating = _backend(db, new, fallback=old)
    snap = rotating.read("web")
    assert snap == _snapshot(lineage=snap.lineage)
    assert rotating.needs_rekey("web")
    rotating.write("web", snap.next())
    assert not rotating.needs_rekey("web")
    assert _backend(db, new).read("web").resources == snap.resources
    with pytest.raises(StateKeyError):
        _backend(db, old).read("web")


def test_fallback_alone_decrypts_state_back_to_clear(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    key = _pass()
    _backend(db, key).write("web", _snapshot())
    reader = _backend(db, None, fallback=key)
    snap = reader.read("web")
    reader.write("web", snap.next())
    assert SQLiteBackend(db).read("web").outputs == {"url": OUTPUT}


def test_a_row_moved_to_another_address_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    _backend(db, _pass()).write("web", _snapshot(2))
    con = sqlite3.connect(db)
    doc = unpack(con.execute(
        "SELECT doc FROM resources WHERE address = 'local:file/r0'").fetchone()[0])
    con.execute("UPDATE resources SET doc = ? WHERE address = 'local:file/r1'",
                (pack(doc.replace("local:file/r0", "local:file/r1")),))
    con.commit()
    with pytest.raises(StateKeyError, match="altered or moved"):
        _backend(db, _pass()).read("web")


def test_keys_from_env(tmp_path: Path) -> None:
    identity = _age()
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"# created: today\n# public key: age1...\n{identity}\n")
    keys = keys_from_env({"DRIFTLESS_STATE_KEY_FILE": str(key_file),
                          "DRIFTLESS_STATE_FALLBACK_KEY": "passphrase:old one"})
    assert keys.current is not None and keys.current.kid.startswith("age:")
    assert keys.fallback is not None and keys.fallback.kid.startswith("scrypt:n=2^17,")
    assert not keys_from_env({}).configured()
    for bad in ({"DRIFTLESS_STATE_KEY": "hunter2"},
                {"DRIFTLESS_STATE_KEY": identity, "DRIFTLESS_STATE_KEY_FILE": str(key_file)},
                {"DRIFTLESS_STATE_KEY_FILE": str(tmp_path / "missing")}):
        with pytest.raises(ConfigError) as err:
            keys_from_env(bad)
        assert identity not in str(err.value) and "hunter2" not in str(err.value)


def test_hostile_scrypt_params_in_state_are_refused_not_derived(tmp_path: Path) -> None:
    key = _pass()
    wrapped = "scrypt:n=2^40,r=8,p=1:AAAAAAAAAAAAAAAAAAAAAA|" + "A" * 80
    assert StateKeys(key).unwrap(wrapped) is None
    assert os.environ.get("DRIFTLESS_STATE_KEY") is None


def test_open_backend_wraps_only_with_a_key_and_guards_without(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTLESS_STATE_KEY", raising=False)
    plain = open_backend("sqlite:///state.db", root=tmp_path)
    assert isinstance(plain, SQLiteBackend) and plain.path == tmp_path / "state.db"
    plain.write("clear", _snapshot())
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", _age())
    sealed = open_backend("sqlite:///state.db", root=tmp_path)
    assert isinstance(sealed, EncryptedBackend)
    snap = sealed.read("clear")
    sealed.write("clear", snap.next())
    sealed.close()
    monkeypatch.delenv("DRIFTLESS_STATE_KEY")
    again = open_backend("sqlite:///state.db", root=tmp_path)
    with pytest.raises(StateKeyError, match="neither DRIFTLESS_STATE_KEY"):
        again.read("clear")
    assert again.stacks() == ["clear"], "stack names stay readable without a key"


def test_rekey_reseals_snapshot_and_pending_journal_under_the_new_key(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    old, new = parse_key(_age(), source="t"), _pass("new")
    writer = _backend(db, old)
    writer.write("web", _snapshot())
    journal = writer.journal("web")
    first = journal.begin("local:file/r0", "update", {"content": INTENT})
    journal.finish(first, ok=True, live={"address": "local:file/r0", "attributes": {"a": 1}})
    journal.begin("local:file/r1", "delete", {"content": INTENT})
    before = [(e.address, e.action, e.intent, e.finished, e.ok, e.live)
              for e in journal.entries()]
    rotating = _backend(db, new, fallback=old)
    assert rotating.rekey("web") and not rotating.rekey("web")
    only_new = _backend(db, new)
    assert only_new.read("web").resources == _snapshot().resources
    after = [(e.address, e.action, e.intent, e.finished, e.ok, e.live)
             for e in only_new.journal("web").entries()]
    assert after == before
    with pytest.raises(StateKeyError):
        _backend(db, old).journal("web").entries()


# -- through the CLI ---------------------------------------------------------

ATTR = "attr-marker-7f3a"
CONTENT = "content-marker-91bc"
OUTPUT = "output-marker-c0de"


def _project(root: Path) -> Path:
    out = root / "out"
    resources: dict[str, Any] = {
        f"f{i}": {"type": "local:file",
                  "properties": {"path": str(out / f"{ATTR}-{i}.txt"),
                                 "content": f"{CONTENT} {i}\n", "make_parents": True}}
        for i in range(3)}
    write_project(root, resources)
    stack = root / "stacks" / "main" / "stack.yaml"
    stack.write_text(stack.read_text() + f"outputs:\n  where: {OUTPUT}-${{f0.path}}\n")
    return root


def _state_bytes(root: Path) -> bytes:
    """Every byte of the state database and its WAL and shared-memory files, plus its
    packed documents inflated (deflate is no encryption)."""
    db = root / ".driftless" / "state.db"
    raw = b"".join(p.read_bytes() for p in sorted(db.parent.iterdir())
                   if p.name.startswith("state.db"))
    return raw + b"\n" + inflate_all(raw)


def _project_unchanged_view(root: Path) -> bytes:
    """``_unchanged_view`` of a project's state files."""
    raw = bytearray(_state_bytes(root))
    raw[24:28] = raw[92:96] = b"\0\0\0\0"
    return bytes(raw)


def test_apply_with_a_key_stores_no_value_in_clear(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clear, sealed = _project(tmp_path / "clear"), _project(tmp_path / "sealed")
    monkeypatch.delenv("DRIFTLESS_STATE_KEY", raising=False)
    run(clear, "apply", "--auto-approve", check=True)
    control = _state_bytes(clear)
    assert all(m.encode() in control for m in (ATTR, CONTENT, OUTPUT)), "the scan sees clear text"
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", _age())
    run(sealed, "apply", "--auto-approve", check=True)
    raw = _state_bytes(sealed)
    for marker in (ATTR, CONTENT, OUTPUT):
        assert marker.encode() not in raw, f"{marker} is in the state files in clear"
    assert run(sealed, "plan", "--detailed-exitcode").returncode == 0
    out = run(sealed, "output", "where", check=True).stdout
    assert OUTPUT in out
    assert ATTR in run(sealed, "state", "show", "local:file/f1", check=True).stdout


@pytest.mark.parametrize("key", ["none", "wrong-age", "wrong-passphrase"])
def test_a_missing_or_wrong_key_fails_every_command_and_writes_nothing(
        key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:the right one")
    run(root, "apply", "--auto-approve", check=True)
    (tmp_path / "out" / f"{ATTR}-0.txt").write_text("drifted\n")
    before, outputs = _project_unchanged_view(root), sorted((tmp_path / "out").iterdir())
    contents = [p.read_bytes() for p in outputs]
    given = {"none": None, "wrong-age": _age(), "wrong-passphrase": "passphrase:wrong"}[key]
    if given is None:
        monkeypatch.delenv("DRIFTLESS_STATE_KEY")
    else:
        monkeypatch.setenv("DRIFTLESS_STATE_KEY", given)
    for args in (["plan"], ["apply", "--auto-approve"], ["state", "list"],
                 ["state", "rm", "local:file/f0"], ["output"]):
        proc = run(root, *args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "stack 'main'" in proc.stderr and "scrypt:" in proc.stderr, proc.stderr
        assert "DRIFTLESS_STATE_KEY" in proc.stderr and "Traceback" not in proc.stderr
    assert _project_unchanged_view(root) == before
    assert [p.read_bytes() for p in outputs] == contents, "nothing was applied"


_HOLDER = """
    import sys, time
    from pathlib import Path
    from driftless.state import SQLiteBackend, hold_lock
    backend = SQLiteBackend(Path(sys.argv[1]))
    with hold_lock(backend, "main", operation="agent reconcile", lease=1.0, renew_every=0.3):
        Path(sys.argv[2]).write_text(str(time.time()))
        time.sleep(float(sys.argv[3]))
    Path(sys.argv[2]).write_text(str(time.time()))
"""


def test_rekey_waits_for_the_lock_and_rotates_to_the_new_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    old, new = _age(), "passphrase:the new one"
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", old)
    run(root, "apply", "--auto-approve", check=True)
    held = tmp_path / "held"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLDER),
                               str(root / ".driftless" / "state.db"), str(held), "3"])
    try:
        deadline = time.monotonic() + 30
        while not held.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("DRIFTLESS_STATE_KEY", new)
        assert run(root, "plan").returncode == 1, "the new key alone cannot read yet"
        monkeypatch.setenv("DRIFTLESS_STATE_FALLBACK_KEY", old)
        proc = run(root, "state", "rekey", "--wait", "60", check=True)
        finished = time.time()
    finally:
        assert holder.wait(timeout=60) == 0
    assert "rewrote 1 of 1 stacks" in proc.stdout
    assert finished >= float(held.read_text()), "rekey ran only after the holder released"
    monkeypatch.delenv("DRIFTLESS_STATE_FALLBACK_KEY")
    assert run(root, "plan", "--detailed-exitcode").returncode == 0
    assert "rewrote 0 of 1 stacks" in run(root, "state", "rekey", check=True).stdout
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", old)
    assert run(root, "plan").returncode == 1, "the old key no longer opens the state"


def test_rekey_without_a_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    monkeypatch.delenv("DRIFTLESS_STATE_KEY", raising=False)
    proc = run(root, "state", "rekey")
    assert proc.returncode == 1 and "DRIFTLESS_STATE_KEY is not set" in proc.stderr
