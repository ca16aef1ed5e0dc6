"""Keys and sealing for whole-state encryption (see ``encrypted``).

Two kinds of key encrypt state: an age X25519 identity (``AGE-SECRET-KEY-1…``)
or a passphrase (``passphrase:…``, stretched with scrypt). Neither encrypts
state directly: each stack has a random 256-bit *data key* that seals every
document with AES-256-GCM, and the data key is stored *wrapped* by the
operator's key. So an age key costs one X25519 operation and a passphrase one
scrypt per data key and process, not one per resource, and a rotation only
needs new wrapped data keys plus re-sealed documents.

Every wrapped data key starts with the id of the key that wrapped it
(``age:<fingerprint of the recipient>`` or ``scrypt:<params>:<salt>``), so
a reader can pick the current or the fallback key and an error can say
which key is missing. Every sealed document names its data key.

I/O: reads the key files the operator's environment names; nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyrage
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from driftless.errors import ConfigError
from driftless.records import record
from driftless.state.seal_guard import FALLBACK_ENV, KEY_ENV, StateKeyError

__all__ = [
    "AgeKey",
    "DataKey",
    "PassphraseKey",
    "StateKey",
    "StateKeyError",
    "StateKeys",
    "keys_from_env",
    "parse_key",
]

PASSPHRASE_PREFIX = "passphrase:"
AGE_PREFIX = "AGE-SECRET-KEY-1"
# OWASP's scrypt minimum (N=2^17, r=8, p=1): ~0.5 s and 128 MiB here, paid
# once per process and salt; a stack keeps its salt, so readers derive once.
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 17, 8, 1
_NONCE = 12


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class StateKey(Protocol):
    """An operator key that wraps and unwraps data keys."""

    @property
    def kid(self) -> str:
        """The id recorded with everything this key wraps."""

    def describe(self) -> str:
        """Words for error messages (never the secret)."""

    def wrap(self, dek: bytes) -> str:
        """``<kid>|<payload>``: ``dek`` encrypted to this key."""

    def unwrap(self, kid: str, payload: bytes) -> bytes | None:
        """The data key, or None when ``kid`` is not this key's (or it does not open)."""


class AgeKey:
    """An age X25519 identity: wraps data keys to its recipient with age."""

    def __init__(self, identity: str) -> None:
        try:
            self._identity = pyrage.x25519.Identity.from_str(identity.strip())
        except pyrage.IdentityError:
            raise ConfigError(
                "the state key is not a valid age identity",
                hint="generate one with age-keygen; it starts with AGE-SECRET-KEY-1",
            ) from None
        self.recipient = str(self._identity.to_public())
        self.kid = "age:" + hashlib.sha256(self.recipient.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """Names the recipient, which is public."""
        return f"the age identity of recipient {self.recipient} ({self.kid})"

    def wrap(self, dek: bytes) -> str:
        """One age message per data key, so writing needs only the recipient."""
        return f"{self.kid}|{_b64(pyrage.encrypt(dek, [self._identity.to_public()]))}"

    def unwrap(self, kid: str, payload: bytes) -> bytes | None:
        """Only a kid of this recipient is tried: others are someone else's key."""
        if kid != self.kid:
            return None
        try:
            return bytes(pyrage.decrypt(payload, [self._identity]))
        except pyrage.DecryptError:
            return None


class PassphraseKey:
    """A passphrase stretched with scrypt into a key-encryption key per salt."""

    def __init__(self, passphrase: str, *, log_n: int = SCRYPT_LOG_N, r: int = SCRYPT_R,
                 p: int = SCRYPT_P) -> None:
        if not passphrase:
            raise ConfigError("the state passphrase is empty",
                              hint="write passphrase:<a long random phrase>")
        self._secret = passphrase.encode()
        self._params = (log_n, r, p)
        self._salt = os.urandom(16)
        self._derived: dict[str, bytes] = {}
        self._mu = threading.Lock()
        self.kid = self._kid(self._params, self._salt)

    @staticmethod
    def _kid(params: tuple[int, int, int], salt: bytes) -> str:
        salt_text = base64.urlsafe_b64encode(salt).decode().rstrip("=")
        return f"scrypt:n=2^{params[0]},r={params[1]},p={params[2]}:{salt_text}"

    def describe(self) -> str:
        """A passphrase has no public part: name the KDF only."""
        return "a passphrase (scrypt)"

    def _kek(self, kid: str) -> bytes | None:
        """The key-encryption key for ``kid``'s salt and params, derived once."""
        with self._mu:
            if kid in self._derived:
                return self._derived[kid]
        parsed = _parse_scrypt_kid(kid)
        if parsed is None:
            return None
        (log_n, r, p), salt = parsed
        kek = hashlib.scrypt(self._secret, salt=salt, n=1 << log_n, r=r, p=p,
                             maxmem=256 * r * (1 << log_n), dklen=32)
        with self._mu:
            self._derived[kid] = kek
        return kek

    def wrap(self, dek: bytes) -> str:
        """AES-GCM under the KEK of this process's salt; the kid is the AAD."""
        kek = self._kek(self.kid)
        assert kek is not None
        nonce = os.urandom(_NONCE)
        return f"{self.kid}|{_b64(nonce + AESGCM(kek).encrypt(nonce, dek, self.kid.encode()))}"

    def unwrap(self, kid: str, payload: bytes) -> bytes | None:
        """Any scrypt kid may be ours: a wrong passphrase shows as a failed tag."""
        kek = self._kek(kid)
        if kek is None or len(payload) <= _NONCE:
            return None
        try:
            return AESGCM(kek).decrypt(payload[:_NONCE], payload[_NONCE:], kid.encode())
        except InvalidTag:
            return None


def _parse_scrypt_kid(kid: str) -> tuple[tuple[int, int, int], bytes] | None:
    """``scrypt:n=2^17,r=8,p=1:<salt>`` → params and salt; None if not one (or absurd)."""
    try:
        scheme, params, salt_text = kid.split(":")
        fields = dict(item.split("=") for item in params.split(","))
        log_n = int(fields["n"].removeprefix("2^"))
        r, p = int(fields["r"]), int(fields["p"])
        salt = base64.urlsafe_b64decode(salt_text + "=" * (-len(salt_text) % 4))
    except (ValueError, KeyError, binascii.Error):
        return None
    # A state file is untrusted input: refuse params that would exhaust memory.
    if scheme != "scrypt" or not (1 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
        return None
    return (log_n, r, p), salt


@dataclass(frozen=True)  # init-less fields: a dataclass of its own (``record`` refuses them)
class DataKey:
    """A stack's AES-256-GCM key, its wrapped form and whether the current key wrapped it."""

    key: bytes = field(repr=False)
    wrapped: str
    current: bool
    id: str = field(init=False)
    _aead: AESGCM = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", hashlib.sha256(self.wrapped.encode()).hexdigest()[:16])
        # One cipher object per key: building it per row costs more than decrypting.
        object.__setattr__(self, "_aead", AESGCM(self.key))

    def seal(self, plaintext: bytes, aad: str) -> str:
        """``<data key id>.<nonce+ciphertext>``; the AAD binds it to its place in state."""
        nonce = os.urandom(_NONCE)
        return f"{self.id}.{_b64(nonce + self._aead.encrypt(nonce, plaintext, aad.encode()))}"

    def open(self, blob: str, aad: str) -> bytes:
        """Inverse of ``seal``; ``InvalidTag`` / ``ValueError`` when it was tampered with."""
        raw = binascii.a2b_base64(blob[blob.index(".") + 1:])
        return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], aad.encode())


def blob_key_id(blob: str) -> str:
    """The data key id a sealed blob names."""
    return blob.partition(".")[0]


def wrapped_kid(wrapped: str) -> str:
    """The operator key id a wrapped data key names."""
    return wrapped.partition("|")[0]


@record
class StateKeys:
    """The operator's keys: ``current`` seals new writes, ``fallback`` only reads.

    With no ``current`` key, writes go out in clear text (how encryption is
    turned off: read with the fallback, write clear).
    """

    current: StateKey | None = None
    fallback: StateKey | None = None

    def configured(self) -> bool:
        """Whether any key was given at all."""
        return self.current is not None or self.fallback is not None

    def new_data_key(self) -> DataKey:
        """A fresh data key wrapped by the current key."""
        assert self.current is not None
        dek = os.urandom(32)
        return DataKey(dek, self.current.wrap(dek), True)

    def unwrap(self, wrapped: str) -> DataKey | None:
        """Open a wrapped data key with the current key, else the fallback; None if neither."""
        kid, _, payload_text = wrapped.partition("|")
        try:
            payload = _unb64(payload_text)
        except (ValueError, binascii.Error):
            return None
        for key, current in ((self.current, True), (self.fallback, False)):
            dek = None if key is None else key.unwrap(kid, payload)
            if dek is not None:
                return DataKey(dek, wrapped, current)
        return None

    def describe(self) -> str:
        """Which keys were given, for an error message."""
        given = [f"{name} holds {key.describe()}"
                 for name, key in ((KEY_ENV, self.current), (FALLBACK_ENV, self.fallback))
                 if key is not None]
        return "; ".join(given) if given else f"neither {KEY_ENV} nor {FALLBACK_ENV} is set"


def parse_key(text: str, *, source: str) -> StateKey:
    """An age identity or ``passphrase:…``; ``ConfigError`` naming ``source`` otherwise."""
    text = text.strip()
    if text.startswith(PASSPHRASE_PREFIX):
        return PassphraseKey(text[len(PASSPHRASE_PREFIX):])
    keys = [line.strip() for line in text.splitlines()
            if line.strip().upper().startswith(AGE_PREFIX)]
    if len(keys) == 1:
        return AgeKey(keys[0])
    raise ConfigError(
        f"{source} holds no usable state key" if not keys else
        f"{source} holds {len(keys)} age identities; give exactly one",
        hint="give an age identity (AGE-SECRET-KEY-1…, from age-keygen) or "
             "passphrase:<phrase>",
    )


def _one_key(environ: Mapping[str, str], name: str) -> StateKey | None:
    """``NAME`` or ``NAME_FILE`` (not both); comments in key files are ignored."""
    value, path = environ.get(name), environ.get(f"{name}_FILE")
    if value and path:
        raise ConfigError(f"both {name} and {name}_FILE are set",
                          hint="unset one of them")
    if path:
        try:
            value = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read {name}_FILE {path}: {exc.strerror}",
                              hint="point it at a readable key file") from None
        return parse_key(value, source=f"{name}_FILE ({path})")
    return parse_key(value, source=name) if value else None


def keys_from_env(environ: Mapping[str, str] | None = None) -> StateKeys:
    """The operator's state keys from the environment (never from the repository)."""
    env = os.environ if environ is None else environ
    return StateKeys(_one_key(env, KEY_ENV), _one_key(env, FALLBACK_ENV))
