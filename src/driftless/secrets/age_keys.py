"""age identities and the wrapping of a SOPS data key (``sops.age[].enc``).

I/O: reads key files and, only when the operator set ``SOPS_AGE_KEY_CMD`` in
the environment, runs that command. Nothing here ever reads a command or a
key location from a repository file.

Where identities come from, in the order sops uses:
``SOPS_AGE_KEY`` (the key text), ``SOPS_AGE_KEY_FILE`` (a path),
``SOPS_AGE_KEY_CMD`` (a command printing keys), and the default file
``$XDG_CONFIG_HOME/sops/age/keys.txt`` (else ``~/.config/sops/age/keys.txt``).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

import pyrage
from pyrage import x25519

from driftless.records import record
from driftless.secrets.sops_cipher import SecretsError

__all__ = ["KeyRing", "parse_recipients", "unwrap_data_key", "wrap_data_key"]

_CMD_TIMEOUT = 30.0  # seconds a key command may take before we give up


@record
class KeyRing:
    """The age identities this process may decrypt with, and where each came from."""

    identities: tuple[Any, ...] = ()
    sources: tuple[str, ...] = field(default=())

    @classmethod
    def from_text(cls, text: str, *, source: str = "text") -> KeyRing:
        """Parse ``AGE-SECRET-KEY-1...`` lines (comments and blank lines allowed)."""
        ids = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                ids.append(x25519.Identity.from_str(line))
            except Exception:  # pyrage raises its own IdentityError type
                raise SecretsError(f"{source}:{number}: not an age identity "
                                   "(expected AGE-SECRET-KEY-1...)") from None
        return cls(tuple(ids), (source,) if ids else ())

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> KeyRing:
        """Collect identities from the operator's environment (see the module doc)."""
        ring = cls()
        if environ.get("SOPS_AGE_KEY"):
            ring = ring + cls.from_text(environ["SOPS_AGE_KEY"], source="SOPS_AGE_KEY")
        if environ.get("SOPS_AGE_KEY_FILE"):
            ring = ring + _from_file(Path(environ["SOPS_AGE_KEY_FILE"]), required=True)
        if environ.get("SOPS_AGE_KEY_CMD"):
            ring = ring + cls.from_text(_run_key_cmd(environ["SOPS_AGE_KEY_CMD"], environ),
                                        source="SOPS_AGE_KEY_CMD")
        return ring + _from_file(default_key_file(environ), required=False)

    def __add__(self, other: KeyRing) -> KeyRing:
        return KeyRing(self.identities + other.identities, self.sources + other.sources)

    def public_keys(self) -> list[str]:
        """The recipients (``age1...``) matching these identities."""
        return [str(i.to_public()) for i in self.identities]


def default_key_file(environ: Mapping[str, str]) -> Path:
    """sops' default key file: under ``$XDG_CONFIG_HOME`` if set, else ``~/.config``."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "sops" / "age" / "keys.txt"


def _from_file(path: Path, *, required: bool) -> KeyRing:
    """Identities in a key file; a missing default file is simply no keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise SecretsError(f"SOPS_AGE_KEY_FILE {path} does not exist") from None
        return KeyRing()
    except OSError as exc:
        raise SecretsError(f"cannot read age key file {path}: {exc.strerror}") from None
    return KeyRing.from_text(text, source=str(path))


def _run_key_cmd(command: str, environ: Mapping[str, str]) -> str:
    """Run the operator's ``SOPS_AGE_KEY_CMD`` (never one from a repository)."""
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True,
                              timeout=_CMD_TIMEOUT, env=dict(environ), check=False)
    except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
        raise SecretsError(f"SOPS_AGE_KEY_CMD could not run: {type(exc).__name__}") from None
    if done.returncode != 0:
        raise SecretsError(f"SOPS_AGE_KEY_CMD exited with status {done.returncode}")
    return done.stdout


def parse_recipients(value: str | Iterable[str] | None) -> list[str]:
    """Recipients from a list or a comma-separated string, checked to be age X25519 keys."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    out = [str(r).strip() for r in items if str(r).strip()]
    for recipient in out:
        try:
            x25519.Recipient.from_str(recipient)
        except Exception:  # pyrage's RecipientError
            raise SecretsError(f"'{recipient}' is not an age recipient (expected age1...); "
                               "only X25519 age keys are supported") from None
    return out


def wrap_data_key(data_key: bytes, recipient: str) -> str:
    """Encrypt the data key to one recipient as an armored age file, as sops writes it."""
    armored = pyrage.encrypt(data_key, [x25519.Recipient.from_str(recipient)], armored=True)
    text = str(armored.decode("ascii"))
    return text if text.endswith("\n") else text + "\n"


def unwrap_data_key(entries: list[Mapping[str, Any]], keys: KeyRing, *, where: str) -> bytes:
    """The data key from the first ``sops.age`` entry one of ``keys`` can open."""
    if keys.identities:
        for entry in entries:
            enc = str(entry.get("enc") or "").encode("ascii", "replace")
            try:
                data_key = pyrage.decrypt(enc, list(keys.identities))
            except Exception:  # not for us, or damaged: try the next recipient
                continue
            if len(data_key) == 32:
                return bytes(data_key)
    recipients = ", ".join(str(e.get("recipient", "?")) for e in entries) or "none"
    tried = ", ".join(keys.sources) or "no identities found"
    raise SecretsError(f"no age identity can decrypt {where}; recipients: {recipients}",
                       hint=f"identities tried: {tried}; set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY")
