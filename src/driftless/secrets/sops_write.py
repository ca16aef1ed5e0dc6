"""Writing SOPS files encrypted to age: encrypt, rotate the data key, update recipients.

Reads and writes files only in the ``*_file`` functions, always replacing a
file atomically (write a sibling, then rename) so a crash never leaves half a
secret file. The layout is the sops CLI's: values as ``ENC[...]``, a
``sops`` block with one ``age`` entry per recipient, ``lastmodified``
(RFC 3339, UTC), the encrypted ``mac``, the encryption rule and ``version``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from driftless.secrets import sops_formats, sops_yaml
from driftless.secrets.age_keys import KeyRing, parse_recipients, wrap_data_key
from driftless.secrets.sops_cipher import Comment, SecretsError, encrypt_value, to_bytes
from driftless.secrets.sops_config import creation_rule_for
from driftless.secrets.sops_read import (
    _emit,
    _mac_hash,
    _read,
    _rfc3339,
    decrypt_text,
    is_sops_document,
)
from driftless.secrets.sops_rules import CryptRules, walk

__all__ = ["SOPS_VERSION", "encrypt_file", "encrypt_text", "rotate_file", "update_keys_file"]

SOPS_VERSION = "3.9.4"  # the sops release whose file layout we write


def encrypt_text(text: str | bytes, *, fmt: str, recipients: Iterable[str],
                 rules: CryptRules | None = None, data_key: bytes | None = None) -> bytes:
    """Encrypt a plaintext document to age ``recipients``; return the sops file's bytes."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    wanted = parse_recipients(list(recipients))
    if not wanted:
        raise SecretsError("no age recipient to encrypt to")
    branches = _load_plain(raw, fmt)
    return _seal(branches, fmt, wanted, rules or CryptRules.from_mapping({}),
                 data_key or os.urandom(32))


def encrypt_file(path: Path, *, recipients: Iterable[str] | None = None,
                 rules: CryptRules | None = None, in_place: bool = False) -> bytes:
    """Encrypt ``path``; recipients and rule come from ``.sops.yaml`` unless given.
    With ``in_place`` the file is replaced; the encrypted bytes are returned either way."""
    wanted = list(recipients or [])
    if not wanted or rules is None:
        rule = creation_rule_for(path) if not wanted else None
        wanted = wanted or list(rule.recipients if rule else [])
        rules = rules or (rule.rules if rule else None)
    out = encrypt_text(_read(path), fmt=sops_formats.format_for(path.name), recipients=wanted,
                       rules=rules)
    if in_place:
        write_atomic(path, out)
    return out


def rotate_file(path: Path, *, keys: KeyRing | None = None, in_place: bool = True) -> bytes:
    """Re-encrypt ``path`` with a new data key for the same recipients and rule."""
    fmt = sops_formats.format_for(path.name)
    plain = decrypt_text(_read(path), fmt=fmt, keys=keys, source=str(path))
    recipients = [str(e.get("recipient")) for e in plain.metadata.get("age") or []]
    out = encrypt_text(plain.text, fmt=fmt, recipients=recipients,
                       rules=CryptRules.from_mapping(plain.metadata))
    if in_place:
        write_atomic(path, out)
    return out


def update_keys_file(path: Path, *, keys: KeyRing | None = None, in_place: bool = True) -> bytes:
    """Re-encrypt ``path`` to the recipients its ``.sops.yaml`` rule names now (a new data
    key too, so a removed recipient cannot read later versions)."""
    fmt = sops_formats.format_for(path.name)
    rule = creation_rule_for(path)
    plain = decrypt_text(_read(path), fmt=fmt, keys=keys, source=str(path))
    out = encrypt_text(plain.text, fmt=fmt, recipients=rule.recipients,
                       rules=CryptRules.from_mapping(plain.metadata))
    if in_place:
        write_atomic(path, out)
    return out


def _load_plain(raw: bytes, fmt: str) -> list[Any]:
    """Parse plaintext; refuse a file that is already a sops file."""
    if fmt == "yaml":
        branches = sops_yaml.load_yaml(raw)
        if any(is_sops_document(doc) for doc in branches):
            raise SecretsError("the file is already encrypted with sops")
        return branches
    branches = sops_formats.load_plain(raw, fmt)
    if fmt == "json" and is_sops_document(branches[0]):
        raise SecretsError("the file is already encrypted with sops")
    return branches


def _seal(branches: list[Any], fmt: str, recipients: list[str], rules: CryptRules,
          key: bytes) -> bytes:
    """Encrypt values, MAC and wrap the key; return the file as sops lays it out."""
    if fmt == "yaml" and (rules.encrypted_comment_regex or rules.unencrypted_comment_regex):
        raise SecretsError("encrypted_comment_regex/unencrypted_comment_regex are not "
                           "supported for YAML files by driftless")
    mac = _walk_encrypt(branches, key, rules)
    if fmt == "yaml":
        for doc in branches:
            sops_yaml.map_comments(doc, _comment_encrypter(key, rules))
    stamp = _rfc3339(dt.datetime.now(dt.UTC))
    meta: dict[str, Any] = {
        "age": [{"enc": wrap_data_key(key, r), "recipient": r} for r in recipients],
        "lastmodified": stamp,
        "mac": encrypt_value(mac, key, stamp),
        **rules.as_metadata(),
        "version": SOPS_VERSION,
    }
    return _emit(branches, dict(sorted(meta.items())), fmt)


def _walk_encrypt(branches: list[Any], key: bytes, rules: CryptRules) -> str:
    """Encrypt every value the rule selects, in place; return the plaintext MAC."""
    digest = _mac_hash(rules)

    def leaf(value: Any, path: list[str], comments: list[list[str]], is_comment: bool) -> Any:
        encrypted = rules.should_encrypt(path, comments, is_comment)
        if (encrypted or not rules.mac_only_encrypted) and not is_comment:
            digest.update(to_bytes(value))
        if not encrypted:
            return value
        sealed = encrypt_value(value, key, ":".join(path) + ":")
        return Comment(sealed, value.inline) if is_comment else sealed

    for branch in branches:
        walk(branch, leaf)
    return str(digest.hexdigest().upper())


def _comment_encrypter(key: bytes, rules: CryptRules) -> sops_yaml.CommentFn:
    """Encrypt a YAML comment with its map path, unless the rule leaves that path clear."""
    def fn(text: str, paths: list[tuple[str, ...]]) -> str | None:
        path = list(paths[0])
        if not text or not rules.should_encrypt(path, [[]], True):
            return None
        return encrypt_value(Comment(text), key, ":".join(path) + ":")
    return fn


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` via a sibling temp file and rename (keeps the mode)."""
    try:
        keep = mode if mode is not None else path.stat().st_mode & 0o777
    except FileNotFoundError:
        keep = 0o600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, keep)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SecretsError(f"cannot write {path}: {exc.strerror}") from None


def recipients_of(meta: Mapping[str, Any]) -> list[str]:
    """The age recipients recorded in a file's metadata."""
    return [str(e.get("recipient")) for e in meta.get("age") or [] if isinstance(e, Mapping)]
