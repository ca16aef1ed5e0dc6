"""The SOPS value cipher: AES-256-GCM over one value, in the ``ENC[...]`` grammar.

Pure functions over bytes and strings; no I/O. The rules follow the sops
CLI (``aes/cipher.go`` and ``ToBytes`` in ``sops.go``) so that a value we
write decrypts in sops and the other way round:

* a value is ``ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`` with
  standard base64 (padded), a 32-byte IV and a 16-byte tag;
* the additional data is the value's path of map keys, each followed by ':'
  (``a:b:`` for ``{a: {b: ...}}``; list indexes are not part of it);
* an empty string is stored as an empty string, not encrypted;
* numbers and booleans are encrypted as text the way Go prints them
  (``strconv.FormatFloat(f, 'f', -1)``, ``True``/``False``).
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from driftless.errors import ConfigError
from driftless.records import record

__all__ = [
    "Comment",
    "SecretsError",
    "decrypt_value",
    "encrypt_value",
    "go_float",
    "is_encrypted_value",
    "parse_enc",
    "to_bytes",
]

IV_SIZE = 32  # sops' nonce size; longer than GCM's usual 12, and part of the format
TAG_SIZE = 16
_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


class SecretsError(ConfigError):
    """A SOPS file cannot be read or written; the message never holds a secret value."""


@record
class Comment:
    """A comment in the tree (text after the comment character); sops encrypts these too."""

    value: str
    inline: bool = False


def is_encrypted_value(value: Any) -> bool:
    """True for a string in the ``ENC[AES256_GCM,...]`` grammar."""
    return isinstance(value, str) and _ENC.match(value) is not None


def parse_enc(text: str) -> tuple[bytes, bytes, bytes, str]:
    """Split an ``ENC[...]`` string into (data, iv, tag, type); raise on bad grammar."""
    match = _ENC.match(text)
    if match is None:
        raise SecretsError("a value does not match the sops ENC[AES256_GCM,...] format")
    try:
        parts = [base64.b64decode(match.group(i), validate=True) for i in (1, 2, 3)]
    except (binascii.Error, ValueError):
        raise SecretsError("an ENC[...] value has invalid base64") from None
    return parts[0], parts[1], parts[2], match.group(4)


def go_float(value: float) -> str:
    """Format a float like Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest digits
    that round-trip, never an exponent, no trailing '.0' — the MAC hashes this text."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)).normalize(), "f")
    return "0" if text == "-0" and math.copysign(1.0, value) > 0 else text


def to_bytes(value: Any) -> bytes:
    """The bytes sops feeds to the MAC (and to the cipher) for a leaf value."""
    if isinstance(value, Comment):
        return to_bytes(value.value)
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(int(value)).encode()
    if isinstance(value, float):
        return go_float(float(value)).encode()
    raise SecretsError(f"cannot encrypt a value of type {type(value).__name__}")


def _type_name(value: Any) -> str:
    """The ``type:`` tag sops records so decryption restores the value's type."""
    if isinstance(value, Comment):
        return "comment"
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "str"


def encrypt_value(value: Any, key: bytes, aad: str, *, iv: bytes | None = None) -> str:
    """Encrypt one leaf; an empty string stays empty, as in sops."""
    plain = to_bytes(value)
    if plain == b"" and isinstance(value, (str, bytes, Comment)):
        return ""
    nonce = iv if iv is not None else os.urandom(IV_SIZE)
    sealed = AESGCM(key).encrypt(nonce, plain, aad.encode("utf-8", "surrogateescape"))
    b64 = base64.b64encode
    return (f"ENC[AES256_GCM,data:{b64(sealed[:-TAG_SIZE]).decode()},"
            f"iv:{b64(nonce).decode()},tag:{b64(sealed[-TAG_SIZE:]).decode()},"
            f"type:{_type_name(value)}]")


def decrypt_value(text: str, key: bytes, aad: str) -> Any:
    """Decrypt one ``ENC[...]`` string back to its typed value; raise ``SecretsError``
    (without the value) when the tag does not verify."""
    if text == "":
        return ""
    data, iv, tag, kind = parse_enc(text)
    if len(iv) < 8:
        raise SecretsError("an ENC[...] value has an IV shorter than 8 bytes")
    try:
        plain = AESGCM(key).decrypt(iv, data + tag, aad.encode("utf-8", "surrogateescape"))
    except InvalidTag:
        raise SecretsError(f"a value at '{aad}' does not decrypt with the data key") from None
    return _typed(plain, kind)


def _typed(plain: bytes, kind: str) -> Any:
    """Turn decrypted bytes back into the type sops recorded (``type:``)."""
    text = plain.decode("utf-8", "surrogateescape")
    try:
        if kind in ("str", "time"):
            return text
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bytes":
            return plain
        if kind == "comment":
            return Comment(text)
        if kind == "bool" and (text in _TRUE or text in _FALSE):
            return text in _TRUE
    except ValueError:
        pass
    raise SecretsError(f"an ENC[...] value of type '{kind}' holds text that is not a {kind}")
