"""SOPS files encrypted to age: decrypt, encrypt, rotate and re-key them.

The public face of SOPS support; other layers import only this module.
Byte-compatible with the sops CLI: a file written here opens with
``sops -d``, and a sops file encrypted to age opens here. The work is split
by concern: ``sops_read`` (decrypt + MAC check), ``sops_write`` (encrypt,
rotate, updatekeys), ``sops_cipher`` (one value), ``sops_rules`` (which
values), ``sops_formats``/``sops_yaml`` (file layouts), ``sops_config``
(``.sops.yaml``) and ``age_keys`` (identities and the wrapped data key).
"""

from __future__ import annotations

from driftless.secrets.age_keys import KeyRing
from driftless.secrets.sops_cipher import SecretsError
from driftless.secrets.sops_read import Decrypted, decrypt_file, decrypt_text, is_sops_document
from driftless.secrets.sops_rules import CryptRules
from driftless.secrets.sops_write import (
    SOPS_VERSION,
    encrypt_file,
    encrypt_text,
    rotate_file,
    update_keys_file,
)

__all__ = [
    "SOPS_VERSION",
    "CryptRules",
    "Decrypted",
    "KeyRing",
    "SecretsError",
    "decrypt_file",
    "decrypt_text",
    "encrypt_file",
    "encrypt_text",
    "is_sops_document",
    "rotate_file",
    "update_keys_file",
]
