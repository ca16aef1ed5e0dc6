"""Reading SOPS files encrypted to age (the decrypt half of ``driftless.secrets.sops``).

Reads a file only in ``decrypt_file``.

How a file is protected (learned from the sops source, not copied):
a random 32-byte data key encrypts every value (AES-256-GCM, path as
additional data); the data key is wrapped for each age recipient
(``sops.age[].enc``); the MAC is SHA-512 over the plaintext values in tree
order (upper-case hex), itself encrypted with the data key and
``sops.lastmodified`` as additional data. Messages never contain a value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from driftless.records import record
from driftless.secrets import sops_formats, sops_yaml
from driftless.secrets.age_keys import KeyRing, unwrap_data_key
from driftless.secrets.sops_cipher import (
    Comment,
    SecretsError,
    decrypt_value,
    is_encrypted_value,
    to_bytes,
)
from driftless.secrets.sops_detect import is_sops_document
from driftless.secrets.sops_rules import CryptRules, walk

__all__ = ["Decrypted", "decrypt_file", "decrypt_text", "is_sops_document"]

# sha256(b"sops"): sops seeds the MAC with it when mac_only_encrypted is set
_MAC_ONLY_SEED = hashlib.sha256(b"sops").digest()
_UNSUPPORTED = {"pgp": "PGP", "kms": "AWS KMS", "gcp_kms": "GCP KMS", "azure_kv": "Azure Key Vault",
                "hc_vault": "HashiCorp Vault", "hckms": "HuaweiCloud KMS"}


@record
class Decrypted:
    """A decrypted SOPS file: ``data`` is the plain tree (YAML/JSON/dotenv/INI) or the
    bytes (binary); ``text`` the plaintext file. Neither is ever shown in a repr."""

    data: Any = field(repr=False)
    format: str
    text: bytes = field(repr=False)
    metadata: Mapping[str, Any] = field(repr=False)
    data_key: bytes = field(repr=False, default=b"")


# -- decrypt ----------------------------------------------------------------------

def decrypt_file(path: Path, *, keys: KeyRing | None = None) -> Decrypted:
    """Decrypt a SOPS file; the format comes from the extension, as in sops."""
    return decrypt_text(_read(path), fmt=sops_formats.format_for(path.name), keys=keys,
                        source=str(path))


def decrypt_text(text: str | bytes, *, fmt: str, keys: KeyRing | None = None,
                 source: str = "<input>") -> Decrypted:
    """Decrypt SOPS text of format ``fmt`` (yaml, json, dotenv, ini, binary)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    branches, meta = _load(raw, fmt, source)
    rules = _rules(meta, fmt, source)
    ring = keys if keys is not None else KeyRing.from_environ(os.environ)
    data_key = unwrap_data_key(_age_entries(meta, source), ring, where=source)
    digest = _walk_decrypt(branches, data_key, rules, source)
    if fmt == "yaml":
        for doc in branches:
            sops_yaml.map_comments(doc, _comment_decrypter(data_key))
    _check_mac(meta, data_key, digest, source)
    return Decrypted(_plain_data(branches, fmt), fmt, _emit(branches, None, fmt), meta, data_key)


def _load(raw: bytes, fmt: str, source: str) -> tuple[list[Any], dict[str, Any]]:
    """Parse and split off the metadata; a file without it is not a sops file."""
    try:
        if fmt == "yaml":
            branches = sops_yaml.load_yaml(raw)
            metas = [doc.pop("sops", None) for doc in branches]
            meta = metas[0]
        else:
            branches, meta = sops_formats.load(raw, fmt)
    except SecretsError as exc:
        raise SecretsError(f"{source}: {exc.message}") from None
    if not isinstance(meta, Mapping):
        raise SecretsError(f"{source} is not encrypted with sops (no sops metadata found)")
    return branches, _plain(meta)


def _plain(value: Any) -> Any:
    """Metadata as plain dicts/lists/strings (ruamel types off)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def _rules(meta: Mapping[str, Any], fmt: str, source: str) -> CryptRules:
    """The file's encryption rule; comment rules need comments in the tree (not YAML here)."""
    try:
        rules = CryptRules.from_mapping(meta)
    except SecretsError as exc:
        raise SecretsError(f"{source}: {exc.message}") from None
    if fmt == "yaml" and (rules.encrypted_comment_regex or rules.unencrypted_comment_regex):
        raise SecretsError(f"{source}: encrypted_comment_regex/unencrypted_comment_regex are "
                           "not supported for YAML files by driftless")
    return rules


def _age_entries(meta: Mapping[str, Any], source: str) -> list[Mapping[str, Any]]:
    """The age key entries; a file only other key types can open gets a clear message."""
    entries = meta.get("age") or []
    if meta.get("key_groups"):
        raise SecretsError(f"{source} uses sops key_groups (Shamir secret sharing), which "
                           "driftless does not support; re-encrypt to age recipients")
    if entries:
        return [e for e in entries if isinstance(e, Mapping)]
    others = [name for key, name in _UNSUPPORTED.items() if meta.get(key)]
    if others == ["PGP"]:
        raise SecretsError(f"{source}: PGP is not supported; re-encrypt to age with "
                           "`driftless secrets updatekeys`")
    what = ", ".join(others) or "no key type"
    raise SecretsError(f"{source} is encrypted with {what} only; driftless supports age "
                       "recipients", hint="re-encrypt to age with `driftless secrets updatekeys`")


def _walk_decrypt(branches: list[Any], key: bytes, rules: CryptRules, source: str) -> str:
    """Decrypt every value in place; return the MAC computed over the plaintext."""
    digest = _mac_hash(rules)

    def leaf(value: Any, path: list[str], comments: list[list[str]], is_comment: bool) -> Any:
        encrypted = rules.should_encrypt(path, comments, is_comment)
        aad = ":".join(path) + ":"
        if encrypted and is_comment:
            plain = _try_decrypt(value.value, key, [aad])
            value = value if plain is None else Comment(plain, value.inline)
        elif encrypted:
            value = _decrypt_leaf(value, key, aad, source)
        if (encrypted or not rules.mac_only_encrypted) and not is_comment:
            digest.update(to_bytes(value))
        return value

    for branch in branches:
        walk(branch, leaf)
    return str(digest.hexdigest().upper())


def _decrypt_leaf(value: Any, key: bytes, aad: str, source: str) -> Any:
    """One value; a bad tag means the file was changed (never quote the value)."""
    if not isinstance(value, str) or (value and not is_encrypted_value(value)):
        raise SecretsError(f"{source}: the value at '{aad}' should be encrypted but is not "
                           "(has the file been edited by hand?)")
    try:
        return decrypt_value(value, key, aad)
    except SecretsError:
        raise SecretsError(f"{source} has been tampered with or corrupted (the value at "
                           f"'{aad}' does not decrypt)") from None


def _try_decrypt(text: str, key: bytes, aads: list[tuple[str, ...]] | list[str]) -> str | None:
    """A comment's plaintext with the first path that opens it, or None (kept as is)."""
    if not is_encrypted_value(text):
        return None
    for aad in aads:
        label = aad if isinstance(aad, str) else "".join(p + ":" for p in aad) or ":"
        try:
            plain = decrypt_value(text, key, label)
        except SecretsError:
            continue
        return plain.value if isinstance(plain, Comment) else str(plain)
    return None


def _comment_decrypter(key: bytes) -> sops_yaml.CommentFn:
    """Open ``#ENC[...]`` comments, trying the likely map path first."""
    def fn(text: str, paths: list[tuple[str, ...]]) -> str | None:
        return _try_decrypt(text, key, paths[:256])
    return fn


def _check_mac(meta: Mapping[str, Any], key: bytes, computed: str, source: str) -> None:
    """Compare the stored MAC (encrypted under lastmodified) with the computed one."""
    tampered = f"{source} has been tampered with or corrupted (MAC mismatch)"
    try:
        stored = decrypt_value(str(meta.get("mac") or ""), key, _mac_aad(meta, source))
    except SecretsError:
        raise SecretsError(tampered) from None
    if stored != computed:
        raise SecretsError(tampered)


def _mac_aad(meta: Mapping[str, Any], source: str) -> str:
    """``lastmodified`` as Go's time.RFC3339 prints it (no fractional seconds)."""
    text = str(meta.get("lastmodified") or "")
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SecretsError(f"{source}: sops.lastmodified is not an RFC 3339 time") from None
    return _rfc3339(stamp, utc_z=text.endswith("Z"))


def _rfc3339(stamp: dt.datetime, *, utc_z: bool = True) -> str:
    """Seconds precision; UTC as 'Z', other offsets as +hh:mm."""
    base = stamp.replace(microsecond=0).isoformat()
    return base[:-6] + "Z" if utc_z and base.endswith("+00:00") else base


def _mac_hash(rules: CryptRules) -> Any:
    digest = hashlib.sha512()
    if rules.mac_only_encrypted:
        digest.update(_MAC_ONLY_SEED)
    return digest


def _plain_data(branches: list[Any], fmt: str) -> Any:
    """The caller's view: a mapping per file (or list for multi-doc YAML), bytes for binary."""
    if fmt == "binary":
        return str(branches[0].get("data", "")).encode("utf-8", "surrogateescape")
    if fmt == "dotenv":
        return {k: v for k, v in branches[0] if not isinstance(k, Comment)}
    if fmt == "ini":
        return {name: {k: v for k, v in sec if not isinstance(k, Comment)}
                for name, sec in branches[0]}
    return branches[0] if len(branches) == 1 else branches


def _emit(branches: list[Any], meta: dict[str, Any] | None, fmt: str) -> bytes:
    if fmt == "yaml":
        if meta is not None:
            for doc in branches:
                doc["sops"] = _yaml_meta(meta)
        return sops_yaml.dump_yaml(branches)
    return sops_formats.emit(branches, meta, fmt)


def _yaml_meta(meta: dict[str, Any]) -> Any:
    """Metadata for a YAML document: a fresh mapping per document (no shared anchors)."""
    return {k: ([dict(e) for e in v] if isinstance(v, list) else v) for k, v in meta.items()}


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SecretsError(f"cannot read {path}: {exc.strerror}") from None
