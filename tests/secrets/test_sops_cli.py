"""``driftless secrets ...`` end to end through the CLI: exit codes, messages, files."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from pyrage import x25519
from typer.testing import CliRunner

from driftless.cli import app

IDENTITY = x25519.Identity.generate()
RECIPIENT = str(IDENTITY.to_public())
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment whose only identity is IDENTITY (never the user's own keys)."""
    monkeypatch.setenv("SOPS_AGE_KEY", str(IDENTITY))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    monkeypatch.delenv("SOPS_AGE_KEY_FILE", raising=False)
    monkeypatch.delenv("SOPS_AGE_KEY_CMD", raising=False)
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _encrypted(dir_: Path, name: str = "s.yaml", text: str = "db:\n    pw: s3cr3t\n") -> Path:
    target = dir_ / name
    target.write_text(text)
    code, out = run("secrets", "encrypt", "-i", "--age", RECIPIENT, str(target))
    assert code == 0, out
    return target


def test_encrypt_then_decrypt_and_extract(keyed: Path) -> None:
    target = _encrypted(keyed)
    assert "s3cr3t" not in target.read_text()
    code, out = run("secrets", "decrypt", str(target))
    assert code == 0 and "pw: s3cr3t" in out
    code, out = run("secrets", "decrypt", "--extract", '["db"]["pw"]', str(target))
    assert code == 0 and out == "s3cr3t"


def test_decrypt_in_place(keyed: Path) -> None:
    target = _encrypted(keyed)
    code, _ = run("secrets", "decrypt", "-i", str(target))
    assert code == 0 and target.read_text() == "db:\n    pw: s3cr3t\n"


@pytest.mark.parametrize("args, message", [
    (["decrypt", "missing.yaml"], "cannot read"),
    (["decrypt", "--extract", '["nope"]', "{enc}"], "is not in the file"),
    (["decrypt", "--extract", "nope", "{enc}"], "expected"),
    (["encrypt", "--age", "not-a-key", "{plain}"], "is not an age recipient"),
    (["encrypt", "{plain}"], "no .sops.yaml found"),
    (["encrypt", "--age", RECIPIENT, "{enc}"], "already encrypted"),
    (["decrypt", "{plain}"], "not encrypted with sops"),
], ids=["missing-file", "extract-absent", "extract-bad-syntax", "bad-recipient",
        "no-recipients", "already-encrypted", "not-sops"])
def test_bad_input_is_a_clean_error(keyed: Path, args: list[str], message: str) -> None:
    enc = _encrypted(keyed)
    plain = keyed / "plain.yaml"
    plain.write_text("a: b\n")
    os.chdir(keyed)
    argv = [a.format(enc=enc, plain=plain) for a in args]
    code, out = run("secrets", *argv)
    assert code == 1
    assert message in out and "Traceback" not in out


def test_wrong_key_message(keyed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _encrypted(keyed)
    monkeypatch.setenv("SOPS_AGE_KEY", str(x25519.Identity.generate()))
    code, out = run("secrets", "decrypt", str(target))
    assert code == 1
    assert f"no age identity can decrypt {target}; recipients: {RECIPIENT}" in out


def test_pgp_fixture_message(keyed: Path) -> None:
    pgp = keyed / "pgp.yaml"
    pgp.write_text("foo: ENC[AES256_GCM,data:8CvE,iv:tjchf/lmMpXDOA1tLE/N4oY9IqJIzfQ/7NlvQlDUtoA=,"
                   "tag:1aFCHIRp3j/VPNcCEsE95A==,type:str]\nsops:\n    lastmodified: "
                   "'2026-05-22T20:16:23Z'\n    mac: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,"
                   "type:str]\n    pgp:\n        - fp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n"
                   "          enc: x\n    version: 3.13.1\n")
    code, out = run("secrets", "decrypt", str(pgp))
    assert code == 1
    assert "PGP is not supported; re-encrypt to age with `driftless secrets updatekeys`" in out


def test_edit_reencrypts_only_when_changed(keyed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _encrypted(keyed)
    seen = keyed / "seen.txt"
    editor = keyed / "editor.py"
    editor.write_text(
        "import os, stat, sys\n"
        "p = sys.argv[1]\n"
        f"open({str(seen)!r}, 'w').write(p + ' ' + oct(stat.S_IMODE(os.stat(p).st_mode)) + ' '"
        " + oct(stat.S_IMODE(os.stat(os.path.dirname(p)).st_mode)))\n"
        "if os.environ.get('CHANGE'):\n"
        "    open(p, 'a').write('extra: added\\n')\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    monkeypatch.delenv("VISUAL", raising=False)
    before = target.read_bytes()
    code, out = run("secrets", "edit", str(target))
    assert code == 0 and "unchanged" in out and target.read_bytes() == before
    temp, mode, dir_mode = seen.read_text().split()
    assert (mode, dir_mode) == ("0o600", "0o700")
    assert not Path(temp).exists() and not Path(temp).parent.exists()
    monkeypatch.setenv("CHANGE", "1")
    code, out = run("secrets", "edit", str(target))
    assert code == 0 and "re-encrypted" in out
    code, out = run("secrets", "decrypt", "--extract", '["extra"]', str(target))
    assert out == "added"


def test_rotate_and_updatekeys(keyed: Path) -> None:
    target = _encrypted(keyed)
    target.chmod(0o640)
    before = target.read_text()
    code, _ = run("secrets", "rotate", str(target))
    assert code == 0 and target.read_text() != before
    new = x25519.Identity.generate()
    (keyed / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: \\.yaml$\n    age: [{RECIPIENT}, {new.to_public()}]\n")
    code, out = run("secrets", "updatekeys", str(target))
    assert code == 0, out
    assert str(new.to_public()) in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the rewrite keeps the mode


@pytest.mark.parametrize("command", ["encrypt", "decrypt", "edit", "rotate", "updatekeys"])
def test_help_has_an_example(command: str) -> None:
    code, out = run("secrets", command, "--help")
    assert code == 0 and "Example:" in out
