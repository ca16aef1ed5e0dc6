"""Independent checks of the files we write.

1. A second implementation reads them: ``sops-age`` (npm, a JavaScript SOPS decoder by
   another author) decrypts files written by ``driftless secrets encrypt``. It is
   installed once into a cache outside the repository (scripts/test-deps.sh installs
   node and npm); when the install fails, the test fails (it never skips).
2. The files match the format described by the sops source (metadata keys, the ENC[]
   grammar, base64 lengths, the MAC's form), checked field by field.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from pyrage import x25519
from typer.testing import CliRunner

from driftless.cli import app

IDENTITY = x25519.Identity.generate()
RECIPIENT = str(IDENTITY.to_public())
CACHE = Path(os.environ.get("DRIFTLESS_TEST_CACHE",
                            Path.home() / ".cache" / "driftless-tests")) / "sops-age-4"
PLAIN = {
    "yaml": ("app.yaml", "db:\n    user: admin\n    password: s3cr3t\nport: 5432\n"
                         "ratio: 0.5\nenabled: true\nitems:\n    - one\n    - 2\n"),
    "json": ("app.json", '{"db": {"user": "admin", "password": "s3cr3t"}, "port": 5432, '
                         '"ratio": 0.5, "enabled": true, "items": ["one", 2]}'),
    "env": ("app.env", "USER=admin\nPASSWORD=s3cr3t\n"),
}
EXPECTED = {
    "yaml": {"db": {"user": "admin", "password": "s3cr3t"}, "port": 5432, "ratio": 0.5,
             "enabled": True, "items": ["one", 2]},
    "json": {"db": {"user": "admin", "password": "s3cr3t"}, "port": 5432, "ratio": 0.5,
             "enabled": True, "items": ["one", 2]},
    "env": {"USER": "admin", "PASSWORD": "s3cr3t"},
}
NODE_SCRIPT = """
import { readFileSync } from "node:fs";
const { decryptSops } = await import(process.env.SOPS_AGE_MODULE);
const [path, fileType] = process.argv.slice(2);
const out = await decryptSops(readFileSync(path, "utf8"),
                              { secretKey: process.env.AGE_KEY, fileType });
process.stdout.write(JSON.stringify(out));
"""


def _encrypt_with_cli(tmp_path: Path, name: str, text: str) -> Path:
    """Write a plaintext file and encrypt it in place with ``driftless secrets encrypt``."""
    target = tmp_path / name
    target.write_text(text)
    result = CliRunner().invoke(app, ["secrets", "encrypt", "-i", "--age", RECIPIENT,
                                      str(target)])
    assert result.exit_code == 0, result.output
    return target


def _sops_age_module() -> Path:
    """Install sops-age@4 once into the cache; fail loudly when that is impossible."""
    entry = CACHE / "node_modules" / "sops-age" / "dist" / "index.js"
    if entry.is_file():
        return entry
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                           "sops-age@4"], capture_output=True, text=True, timeout=600,
                          check=False)
    if done.returncode != 0 or not entry.is_file():
        pytest.fail(f"could not install sops-age@4 into {CACHE} (network?):\n{done.stderr[-2000:]}")
    return entry


@pytest.mark.parametrize("kind", list(PLAIN), ids=list(PLAIN))
def test_sops_age_npm_decrypts_our_files(tmp_path: Path, kind: str) -> None:
    module = _sops_age_module()
    name, text = PLAIN[kind]
    target = _encrypt_with_cli(tmp_path, name, text)
    script = tmp_path / "decrypt.mjs"
    script.write_text(NODE_SCRIPT)
    env = {**os.environ, "SOPS_AGE_MODULE": module.as_uri(), "AGE_KEY": str(IDENTITY)}
    done = subprocess.run(["node", str(script), str(target), kind], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == EXPECTED[kind]


# -- the format, as described by the sops source ------------------------------------

ENC = re.compile(r"^ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),"
                 r"tag:([A-Za-z0-9+/=]+),type:(str|int|float|bool|bytes|comment)\]$")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ARMOR = re.compile(r"^-----BEGIN AGE ENCRYPTED FILE-----\n([A-Za-z0-9+/=]{1,64}\n)+"
                   r"-----END AGE ENCRYPTED FILE-----\n$")


def _check_enc(value: str, plain_len: int | None = None) -> str:
    """One ENC[] value: padded base64, 32-byte IV, 16-byte tag; returns its type."""
    match = ENC.match(value)
    assert match, value
    data, iv, tag, kind = match.groups()
    assert len(base64.b64decode(iv, validate=True)) == 32
    assert len(base64.b64decode(tag, validate=True)) == 16
    if plain_len is not None:
        assert len(base64.b64decode(data, validate=True)) == plain_len
    return kind


def test_written_json_matches_the_sops_format(tmp_path: Path) -> None:
    name, text = PLAIN["json"]
    doc = json.loads(_encrypt_with_cli(tmp_path, name, text).read_text())
    meta = doc.pop("sops")
    assert set(meta) == {"age", "lastmodified", "mac", "unencrypted_suffix", "version"}
    assert list(meta) == sorted(meta)  # sops writes metadata keys sorted
    assert meta["unencrypted_suffix"] == "_unencrypted"
    assert re.match(r"^3\.\d+\.\d+$", meta["version"])
    assert RFC3339_UTC.match(meta["lastmodified"])
    assert [list(e) for e in meta["age"]] == [["enc", "recipient"]]
    assert meta["age"][0]["recipient"] == RECIPIENT
    assert ARMOR.match(meta["age"][0]["enc"])
    assert _check_enc(meta["mac"], plain_len=128) == "str"  # upper-case hex SHA-512
    assert _check_enc(doc["db"]["password"], plain_len=len("s3cr3t")) == "str"
    assert _check_enc(doc["port"], plain_len=4) == "int"
    assert _check_enc(doc["ratio"]) == "float"
    assert _check_enc(doc["enabled"], plain_len=len("True")) == "bool"
    assert [_check_enc(v) for v in doc["items"]] == ["str", "int"]


def test_written_dotenv_and_ini_flatten_metadata_like_sops(tmp_path: Path) -> None:
    env = _encrypt_with_cli(tmp_path, "x.env", "A=1\n").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in env]
    assert keys == ["A", "sops_age__list_0__map_enc", "sops_age__list_0__map_recipient",
                    "sops_lastmodified", "sops_mac", "sops_unencrypted_suffix", "sops_version"]
    enc_line = env[1].split("=", 1)[1]
    assert enc_line.startswith("-----BEGIN AGE ENCRYPTED FILE-----\\n")
    ini = _encrypt_with_cli(tmp_path, "x.ini", "[s]\nk = v\n").read_text()
    assert "\n[sops]\nage__list_0__map_enc = -----BEGIN AGE ENCRYPTED FILE-----\\n" in ini


def test_written_yaml_layout(tmp_path: Path) -> None:
    name, text = PLAIN["yaml"]
    out = _encrypt_with_cli(tmp_path, name, text).read_text()
    assert out.startswith("db:\n    user: ENC[AES256_GCM,data:")
    assert "\nsops:\n    age:\n        - enc: |\n" in out  # an armored block literal
    assert re.search(r"\n +-----BEGIN AGE ENCRYPTED FILE-----\n", out)
    assert re.search(r"\n    lastmodified: ['\"]?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out)
    assert f"          recipient: {RECIPIENT}\n" in out
