"""Real files written by the sops CLI (the sops project's own examples) decrypt here."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.secrets.sops import KeyRing, decrypt_file

FIXTURES = Path(__file__).parent / "fixtures"


def sops_ring() -> KeyRing:
    """The sops project's published dev identity (see fixtures/README.md)."""
    return KeyRing.from_text((FIXTURES / "sops-test-age-keys.txt").read_text())


CASES = {
    "yaml": ("sops-example.yaml", lambda d: (d["app2"]["db"]["user"], d["an_array"][0],
                                             d["somebooleans"], d["myapp1"]),
             ("eve", "secretuser1", [True, False], "t00m4nys3cr3tzupdated")),
    "json": ("sops-example.json", lambda d: (d["firstName"], d["age"],
                                             d["phoneNumbers"][1]["type"], d["anEmptyValue"]),
             ("John", 25.4, "office", "")),
    "ini": ("sops-example.ini", lambda d: (d["name"]["lastName"], d["address"]["city"],
                                           d["not private"]["notsecret_unencrypted"]),
            ("Smith", "New York", "hi there!")),
}


@pytest.mark.parametrize("fmt", list(CASES), ids=list(CASES))
def test_sops_cli_file_decrypts_to_known_plaintext(fmt: str) -> None:
    name, pick, expected = CASES[fmt]
    plain = decrypt_file(FIXTURES / name, keys=sops_ring())
    assert plain.format == fmt
    assert pick(plain.data) == expected


def test_sops_cli_binary_file_decrypts() -> None:
    plain = decrypt_file(FIXTURES / "sops-example.txt", keys=sops_ring())
    assert plain.format == "binary"
    assert plain.data.startswith(b"Welcome to SOPS!")
    assert b"https://github.com/mozilla/sops" in plain.data


def test_sops_cli_yaml_comment_is_decrypted() -> None:
    plain = decrypt_file(FIXTURES / "sops-example.yaml", keys=sops_ring())
    assert b"# private key for secret operations in app2" in plain.text
    assert b"ENC[" not in plain.text


def test_fixture_repr_hides_values() -> None:
    plain = decrypt_file(FIXTURES / "sops-example.yaml", keys=sops_ring())
    assert "eve" not in repr(plain)
