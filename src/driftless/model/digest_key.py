"""The key that secret digests are made with: random, per operator, kept outside state.

State keeps a keyed digest (HMAC-SHA256) of each secret instead of the
secret, so a change can still be detected. A digest under a key everyone
knows can be brute-forced from state for a short secret, so the key is
random and lives outside state, where the operator keeps their age key:

1. ``DRIFTLESS_DIGEST_KEY`` — the key itself (at least 16 characters);
2. ``DRIFTLESS_DIGEST_KEY_FILE`` — a file holding it (created when missing);
3. ``$XDG_CONFIG_HOME/driftless/digest.key``, else
   ``~/.config/driftless/digest.key`` — created 0600 on first use.

Everyone who plans or applies a project (CI, the agent, each operator) must
use the same key, or every secret looks changed: share the file, or put the
key in the environment. Digests name their key by a short id
(``hmac-sha256:<id>:<hex>``) so a digest made with another key is told
apart from a changed secret.

This is the one module in ``model`` that does I/O: it reads (and on first
use creates) the key file, once per process and path.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import field
from functools import lru_cache
from pathlib import Path

from driftless.errors import ConfigError
from driftless.records import record

__all__ = ["KEY_ENV", "KEY_FILE_ENV", "DigestKey", "current_key", "default_key_path"]

KEY_ENV = "DRIFTLESS_DIGEST_KEY"
KEY_FILE_ENV = "DRIFTLESS_DIGEST_KEY_FILE"
_MIN_KEY = 16


@record
class DigestKey:
    """An HMAC key and its public id (a digest of the key, safe to print)."""

    secret: bytes = field(repr=False)
    id: str

    @classmethod
    def of(cls, secret: bytes) -> DigestKey:
        """The key with its id: 8 hex characters of a domain-separated sha256."""
        kid = hashlib.sha256(b"driftless/digest-key-id\0" + secret).hexdigest()[:8]
        return cls(secret, kid)


def default_key_path() -> Path:
    """Where the key file lives unless the operator says otherwise."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "driftless" / "digest.key"


def current_key() -> DigestKey:
    """The key this process digests with (looked up on every call, loaded once)."""
    return _load(os.environ.get(KEY_ENV), os.environ.get(KEY_FILE_ENV),
                 str(default_key_path()))


@lru_cache(maxsize=16)
def _load(text: str | None, file: str | None, default: str) -> DigestKey:
    """Cached per source, so a digest costs no file read after the first."""
    if text:
        return DigestKey.of(_checked(text.strip().encode(), f"${KEY_ENV}"))
    return DigestKey.of(_read_or_create(Path(file) if file else Path(default)))


def _checked(raw: bytes, where: str) -> bytes:
    if len(raw) < _MIN_KEY:
        raise ConfigError(f"the digest key in {where} is shorter than {_MIN_KEY} characters",
                          hint=f"delete it to have a random one made, or set {KEY_ENV}")
    return raw


def _read_or_create(path: Path) -> bytes:
    """The key in ``path``; a new random one when the file does not exist yet."""
    try:
        return _checked(path.read_bytes().strip(), str(path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot read the digest key {path}: {exc.strerror or exc}",
                          hint=f"fix its permissions, or set {KEY_FILE_ENV}") from None
    return _create(path)


def _create(path: Path) -> bytes:
    """Write a fresh key 0600 (O_EXCL: two first runs racing agree on one key)."""
    import secrets  # only when a key is made

    key = secrets.token_hex(32).encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _checked(path.read_bytes().strip(), str(path))
    except OSError as exc:
        raise ConfigError(f"cannot create the digest key {path}: {exc.strerror or exc}",
                          hint=f"set {KEY_FILE_ENV} to a writable path, or {KEY_ENV}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return key
