"""Encrypt -> decrypt round trips, tampering, wrong keys, unsupported key types, rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pyrage import x25519

from driftless.errors import ConfigError
from driftless.secrets.sops import (
    CryptRules,
    KeyRing,
    SecretsError,
    decrypt_file,
    decrypt_text,
    encrypt_file,
    encrypt_text,
    is_sops_document,
    rotate_file,
)

FIXTURES = Path(__file__).parent / "fixtures"
IDENTITY = x25519.Identity.generate()
RING = KeyRing((IDENTITY,), ("test",))
RECIPIENT = str(IDENTITY.to_public())

PLAIN = {
    "yaml": b"# top comment\napi_key: s3cr3t # inline\nnested:\n    port: 5432\n"
            b"    ratio: 0.25\n    on: true\n    list:\n        - a\n        - 7\n"
            b"    note_unencrypted: visible\nempty: ''\n",
    "json": b'{"api_key": "s3cr3t", "nested": {"port": 5432, "ratio": 0.25, "on": true, '
            b'"list": ["a", 7]}, "none": null}',
    "dotenv": b"# a comment\nAPI_KEY=s3cr3t\nMULTI=line1\\nline2\n",
    "ini": b"; about db\n[db]\nuser = admin\npassword = s3cr3t\n",
    "binary": b"\x00\x01 raw bytes \xff",
}


@pytest.mark.parametrize("fmt", list(PLAIN), ids=list(PLAIN))
def test_round_trip_restores_plaintext(fmt: str) -> None:
    sealed = encrypt_text(PLAIN[fmt], fmt=fmt, recipients=[RECIPIENT])
    assert b"s3cr3t" not in sealed and b"raw bytes" not in sealed
    plain = decrypt_text(sealed, fmt=fmt, keys=RING)
    again = decrypt_text(encrypt_text(plain.text, fmt=fmt, recipients=[RECIPIENT]),
                         fmt=fmt, keys=RING)
    assert again.data == plain.data
    if fmt == "binary":
        assert plain.data == PLAIN[fmt]


def test_yaml_round_trip_keeps_types_order_and_comments() -> None:
    plain = decrypt_text(encrypt_text(PLAIN["yaml"], fmt="yaml", recipients=[RECIPIENT]),
                         fmt="yaml", keys=RING)
    assert list(plain.data) == ["api_key", "nested", "empty"]
    assert plain.data["nested"]["port"] == 5432
    assert plain.data["nested"]["ratio"] == 0.25
    assert plain.data["nested"]["on"] is True
    assert plain.data["nested"]["list"] == ["a", 7]
    assert b"# top comment" in plain.text and b"# inline" in plain.text


def test_yaml_comments_are_encrypted() -> None:
    sealed = encrypt_text(PLAIN["yaml"], fmt="yaml", recipients=[RECIPIENT])
    assert b"top comment" not in sealed
    assert b"type:comment]" in sealed


@pytest.mark.parametrize("fmt", ["yaml", "json", "dotenv", "ini"])
def test_tampered_value_is_refused(fmt: str) -> None:
    sealed = encrypt_text(PLAIN[fmt], fmt=fmt, recipients=[RECIPIENT]).decode()
    start = re.search(r'(?:: |= |=|")ENC\[AES256_GCM,data:', sealed).end()  # a value, not a comment
    flipped = "A" if sealed[start] != "A" else "B"
    with pytest.raises(ConfigError, match="tampered with or corrupted"):
        decrypt_text(sealed[:start] + flipped + sealed[start + 1:], fmt=fmt, keys=RING)


def test_swapped_values_fail_the_path_check() -> None:
    sealed = encrypt_text(b"a: one\nb: two\n", fmt="yaml", recipients=[RECIPIENT]).decode()
    lines = sealed.splitlines()
    a, b = lines[0].split(": ", 1)[1], lines[1].split(": ", 1)[1]
    swapped = "\n".join([f"a: {b}", f"b: {a}", *lines[2:]]) + "\n"
    with pytest.raises(SecretsError, match="tampered"):
        decrypt_text(swapped, fmt="yaml", keys=RING)


def test_tampered_mac_is_refused() -> None:
    doc = json.loads(encrypt_text(PLAIN["json"], fmt="json", recipients=[RECIPIENT]))
    other = json.loads(encrypt_text(PLAIN["json"], fmt="json", recipients=[RECIPIENT]))
    doc["sops"]["mac"] = other["sops"]["mac"]
    with pytest.raises(SecretsError, match=r"MAC mismatch"):
        decrypt_text(json.dumps(doc), fmt="json", keys=RING)


def test_unencrypted_value_changed_breaks_the_mac() -> None:
    sealed = encrypt_text(PLAIN["yaml"], fmt="yaml", recipients=[RECIPIENT])
    edited = sealed.replace(b"note_unencrypted: visible", b"note_unencrypted: changed")
    with pytest.raises(SecretsError, match=r"\(MAC mismatch\)"):
        decrypt_text(edited, fmt="yaml", keys=RING)


def test_wrong_key_names_the_recipients() -> None:
    sealed = encrypt_text(PLAIN["json"], fmt="json", recipients=[RECIPIENT])
    other = KeyRing((x25519.Identity.generate(),), ("other",))
    with pytest.raises(SecretsError) as info:
        decrypt_text(sealed, fmt="json", keys=other, source="app.json")
    assert str(info.value) == f"no age identity can decrypt app.json; recipients: {RECIPIENT}"


def test_pgp_only_file_says_pgp_is_unsupported() -> None:
    pgp_only = json.dumps({"a": "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
                           "sops": {"pgp": [{"fp": "FBC7", "enc": "x"}], "mac": "",
                                    "lastmodified": "2024-01-01T00:00:00Z",
                                    "version": "3.9.4"}})
    with pytest.raises(SecretsError, match="PGP is not supported; re-encrypt to age with "
                                           "`driftless secrets updatekeys`"):
        decrypt_text(pgp_only, fmt="json", keys=RING)


def test_kms_only_file_names_the_key_type() -> None:
    doc = {"sops": {"kms": [{"arn": "arn:aws:kms:x"}], "mac": "",
                    "lastmodified": "2024-01-01T00:00:00Z"}}
    with pytest.raises(SecretsError, match="AWS KMS only"):
        decrypt_text(json.dumps(doc), fmt="json", keys=RING)


def test_plain_file_is_not_a_sops_file() -> None:
    with pytest.raises(SecretsError, match="not encrypted with sops"):
        decrypt_text(b"a: 1\n", fmt="yaml", keys=RING)


def test_errors_never_contain_values() -> None:
    sealed = encrypt_text(b"password: hunter2\n", fmt="yaml", recipients=[RECIPIENT])
    edited = sealed.replace(b"password: ENC", b"password: hunter2 ENC")
    with pytest.raises(SecretsError) as info:
        decrypt_text(edited, fmt="yaml", keys=RING)
    assert "hunter2" not in str(info.value)


RULE_CASES = {
    "encrypted_regex": (CryptRules(encrypted_regex="^(data|stringData)$"),
                        {"data": True, "kind": False}),
    "unencrypted_suffix": (CryptRules(unencrypted_suffix="_plain"),
                           {"data": True, "kind": True, "name_plain": False}),
    "encrypted_suffix": (CryptRules(encrypted_suffix="_secret"),
                         {"data": False, "token_secret": True}),
    "unencrypted_regex": (CryptRules(unencrypted_regex="^kind$"), {"data": True, "kind": False}),
}


@pytest.mark.parametrize("name", list(RULE_CASES), ids=list(RULE_CASES))
def test_rules_select_what_is_encrypted(name: str) -> None:
    rules, expect = RULE_CASES[name]
    doc = {key: {"inner": "v"} if key == "data" else "v" for key in expect}
    sealed = json.loads(encrypt_text(json.dumps(doc), fmt="json", recipients=[RECIPIENT],
                                     rules=rules))
    for key, encrypted in expect.items():
        value = sealed[key]["inner"] if key == "data" else sealed[key]
        assert value.startswith("ENC[") is encrypted, key
    assert sealed["sops"][name] == getattr(rules, name)
    assert decrypt_text(json.dumps(sealed), fmt="json", keys=RING).data == doc


def test_mac_only_encrypted_ignores_clear_values() -> None:
    rules = CryptRules(encrypted_regex="^secret$", mac_only_encrypted=True)
    sealed = encrypt_text(b'{"secret": "x", "kind": "a"}', fmt="json", recipients=[RECIPIENT],
                          rules=rules)
    edited = sealed.replace(b'"kind": "a"', b'"kind": "b"')
    assert decrypt_text(edited, fmt="json", keys=RING).data == {"secret": "x", "kind": "b"}


def test_two_rules_in_metadata_are_refused() -> None:
    with pytest.raises(SecretsError, match="only one of"):
        CryptRules.from_mapping({"encrypted_regex": "a", "unencrypted_suffix": "_x"})


def test_sops_yaml_creation_rules_pick_recipients(tmp_path: Path) -> None:
    other = str(x25519.Identity.generate().to_public())
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        f"  - path_regex: prod/.*\\.yaml$\n    age: {RECIPIENT}, {other}\n"
        "    encrypted_regex: ^password$\n"
        f"  - age: [{other}]\n")
    (tmp_path / "prod").mkdir()
    target = tmp_path / "prod" / "db.yaml"
    target.write_text("user: admin\npassword: s3cr3t\n")
    sealed = encrypt_file(target, in_place=True).decode()
    assert "user: admin" in sealed and RECIPIENT in sealed and other in sealed
    assert "encrypted_regex: ^password$" in sealed
    assert decrypt_file(target, keys=RING).data["password"] == "s3cr3t"
    (tmp_path / "dev.yaml").write_text("a: b\n")
    with pytest.raises(SecretsError, match="no age identity"):
        decrypt_text(encrypt_file(tmp_path / "dev.yaml"), fmt="yaml", keys=RING)


def test_rotate_changes_the_data_key(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    target.write_bytes(encrypt_text(PLAIN["json"], fmt="json", recipients=[RECIPIENT]))
    before = decrypt_file(target, keys=RING)
    rotate_file(target, keys=RING)
    after = decrypt_file(target, keys=RING)
    assert after.data == before.data and after.data_key != before.data_key


def test_key_ring_from_environ(tmp_path: Path) -> None:
    keys = tmp_path / "sops" / "age" / "keys.txt"
    keys.parent.mkdir(parents=True)
    keys.write_text(f"# created: now\n{IDENTITY}\n")
    ring = KeyRing.from_environ({"XDG_CONFIG_HOME": str(tmp_path)})
    assert ring.public_keys() == [RECIPIENT]
    cmd = KeyRing.from_environ({"SOPS_AGE_KEY_CMD": f"cat {keys}", "HOME": str(tmp_path / "x"),
                                "PATH": "/usr/bin:/bin"})
    assert cmd.public_keys() == [RECIPIENT]
    assert KeyRing.from_environ({"SOPS_AGE_KEY": str(IDENTITY), "HOME": "/nonexistent"}
                                ).public_keys() == [RECIPIENT]


def test_is_sops_document() -> None:
    sealed = json.loads(encrypt_text(b'{"a": "b"}', fmt="json", recipients=[RECIPIENT]))
    assert is_sops_document(sealed)
    assert not is_sops_document({"a": "b"})
    assert not is_sops_document("text")
