"""``driftless secrets ...``: SOPS files encrypted to age (encrypt, decrypt, edit, rotate,
updatekeys). Identities come from the operator's environment only (SOPS_AGE_KEY,
SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from driftless.cli.output import console, guard
from driftless.errors import ConfigError

__all__ = ["register", "secrets_app"]

secrets_app = typer.Typer(help="SOPS files encrypted to age: encrypt, decrypt, edit, rotate, "
                               "updatekeys.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="The file (format from its extension: .yaml, "
                                              ".json, .env, .ini, anything else is binary).")]
InPlaceOpt = Annotated[bool, typer.Option("-i", "--in-place", help="Rewrite the file itself.")]


def _out(data: bytes) -> None:
    """Bytes to stdout unchanged (binary files too)."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@secrets_app.command()
def encrypt(file: FileArg, in_place: InPlaceOpt = False,
            age: Annotated[list[str] | None, typer.Option(
                "--age", metavar="RECIPIENT",
                help="Encrypt to this age recipient (repeatable or comma-separated); "
                     "default: the matching creation rule in .sops.yaml.")] = None) -> None:
    """Encrypt a plaintext file. Example: driftless secrets encrypt -i --age age1... secrets.yaml"""
    from driftless.secrets import sops  # here: help and other commands need not load it

    with guard():
        recipients = [r for item in age or [] for r in item.split(",") if r.strip()]
        data = sops.encrypt_file(file, recipients=recipients or None, in_place=in_place)
    if in_place:
        console.print(f"encrypted {file}")
    else:
        _out(data)


@secrets_app.command()
def decrypt(file: FileArg, in_place: InPlaceOpt = False,
            extract: Annotated[str | None, typer.Option(
                "--extract", metavar="PATH",
                help="Print one value, e.g. --extract '[\"db\"][\"password\"]'.")] = None) -> None:
    """Decrypt a SOPS file. Example: driftless secrets decrypt --extract '["db"]["user"]' s.yaml"""
    from driftless.secrets import sops
    from driftless.secrets.sops_write import write_atomic

    with guard():
        plain = sops.decrypt_file(file)
        if extract is not None:
            _out(_extract_text(plain.data, extract))
            return
        if in_place:
            write_atomic(file, plain.text)
    if in_place:
        console.print(f"decrypted {file} in place")
    else:
        _out(plain.text)


def _extract_text(data: Any, spec: str) -> bytes:
    """The value at a sops-style path (``["a"][0]``); a scalar prints bare, a tree as JSON."""
    value = data
    for step in _parse_extract(spec):
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            raise ConfigError(f"--extract: {spec} is not in the file") from None
    if isinstance(value, bytes):
        return value
    if isinstance(value, (dict, list)):
        return (json.dumps(value, indent=2, default=str) + "\n").encode()
    return str(value).encode("utf-8", "surrogateescape")


def _parse_extract(spec: str) -> list[str | int]:
    """``["a"]["b"][0]`` -> ["a", "b", 0]."""
    steps: list[str | int] = []
    rest = spec.strip()
    while rest:
        if not rest.startswith("[") or "]" not in rest:
            raise ConfigError(f"--extract: expected [\"key\"] or [index] in {spec}")
        inner, rest = rest[1:].split("]", 1)
        try:
            steps.append(json.loads(inner))
        except json.JSONDecodeError:
            raise ConfigError(f"--extract: {inner} is not a quoted key or an index") from None
    return steps


@secrets_app.command()
def edit(file: FileArg) -> None:
    """Decrypt to a private temp file, run $EDITOR, re-encrypt if it changed.
    Example: EDITOR=vim driftless secrets edit secrets.yaml"""
    from driftless.secrets import sops
    from driftless.secrets.sops_write import write_atomic

    with guard():
        plain = sops.decrypt_file(file)
        changed = _edit_text(plain.text, file.suffix)
        if changed is None:
            console.print(f"{file} unchanged")
            return
        recipients = [str(e.get("recipient")) for e in plain.metadata.get("age") or []]
        out = sops.encrypt_text(changed, fmt=plain.format, recipients=recipients,
                                rules=sops.CryptRules.from_mapping(plain.metadata))
        write_atomic(file, out)
    console.print(f"re-encrypted {file}")


def _edit_text(text: bytes, suffix: str) -> bytes | None:
    """Run the editor on a 0600 file in a private 0700 directory; remove both after."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="driftless-secrets-") as private:
        os.chmod(private, 0o700)
        path = Path(private) / f"plain{suffix}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
        try:
            done = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except OSError as exc:
            raise ConfigError(f"cannot run editor '{editor}': {exc.strerror}") from None
        if done.returncode != 0:
            raise ConfigError(f"editor '{editor}' exited with status {done.returncode}; "
                              "the file was not changed")
        edited = path.read_bytes()
    return None if edited == text else edited


@secrets_app.command()
def rotate(file: FileArg) -> None:
    """Re-encrypt with a new data key (same recipients). Example: driftless secrets rotate s.yaml"""
    from driftless.secrets import sops

    with guard():
        sops.rotate_file(file)
    console.print(f"rotated the data key of {file}")


@secrets_app.command()
def updatekeys(file: FileArg) -> None:
    """Re-encrypt to the recipients .sops.yaml names now.
    Example: driftless secrets updatekeys secrets.yaml"""
    from driftless.secrets import sops

    with guard():
        sops.update_keys_file(file)
    console.print(f"updated the recipients of {file}")


def register(app: typer.Typer) -> None:
    """Add ``driftless secrets`` to the root app."""
    app.add_typer(secrets_app, name="secrets")
