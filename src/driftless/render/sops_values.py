"""SOPS-encrypted values files and ``secrets:`` entries, opened at render.

A values file (``--var-file``, ``environments/<env>.yaml``) may be a SOPS
document, and ``secrets:`` (in an environment file or a stack.yaml) lists
SOPS files by their path in the project. Opening one gives its tree with
every value that was encrypted wrapped in ``Sensitive`` from the moment it
is decrypted; values a rule left in clear stay plain. Keys come only from
the operator's environment (``KeyRing.from_environ``), never the repository.

A file this operator cannot open (no age identity for its recipients) is not
fatal here: its encrypted values become ``LOCKED`` and the caller decides
whether that is a warning (validate, plan --no-secrets: CI holds no keys)
or an error (plan, apply). Every other failure — a tampered MAC, a PGP-only
file, a broken file — is an error whoever runs it.

Each file is decrypted once per render run (``SopsCache``, keyed by path and
content digest) and the plaintext is kept only in memory. I/O: reads the
listed files (confined to the project) and whatever the key ring reads.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftless.errors import Problem, RenderError
from driftless.model import Sensitive
from driftless.records import record
from driftless.render.inputs import not_cacheable
from driftless.render.project import Project, confine
from driftless.render.yamlguard import read_limited
from driftless.render.yamlio import Loc, LocDict, LocList, key_where, problem_at, where
from driftless.secrets.sops_detect import is_sops_document

if TYPE_CHECKING:  # the codec (cryptography, age, ruamel) loads only when a file is SOPS
    from driftless.secrets.sops import Decrypted, KeyRing, SecretsError

__all__ = ["LOCKED", "Opened", "SopsCache", "has_locked", "open_secrets_file",
           "open_values_doc"]

_ENCRYPTED = "ENC[AES256_GCM,"
_EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv",
               ".ini": "ini"}
_NO_KEY = "no age identity can decrypt"  # the one failure CI without keys may pass


class _Locked:
    """An encrypted value this operator cannot open: a stand-in, never a value."""

    def __repr__(self) -> str:
        return "(encrypted)"


LOCKED: Any = _Locked()


def decrypt_text(data: bytes, *, fmt: str, keys: KeyRing, source: str) -> Decrypted:
    """``secrets.sops.decrypt_text``, its codec imported on the first SOPS file only."""
    from driftless.secrets.sops import decrypt_text as decrypt

    return decrypt(data, fmt=fmt, keys=keys, source=source)


@record(frozen=False)
class SopsCache:
    """The SOPS files one render run has opened, keyed by path and content digest.

    Several stacks render from one environment file; decrypting it once saves
    the age unwrap, and runs the operator's ``SOPS_AGE_KEY_CMD`` once. A
    failure is remembered too, so it is reported the same way for each stack.
    """

    _ring: KeyRing | SecretsError | None = None
    _opened: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decrypt(self, data: bytes, fmt: str, *, path: Path, label: str,
                environ: Mapping[str, str]) -> Any:
        """The plaintext tree of a SOPS file; ``SecretsError`` when it cannot be opened."""
        from driftless.secrets.sops import SecretsError
        key = (str(path), hashlib.sha256(data).hexdigest())
        with self._lock:
            if key not in self._opened:
                self._opened[key] = self._open(data, fmt, label, environ)
            found = self._opened[key]
        if isinstance(found, SecretsError):
            raise found
        return found

    def _open(self, data: bytes, fmt: str, label: str, environ: Mapping[str, str]) -> Any:
        """Decrypt once; the error (never holding a value) is kept instead of raised."""
        from driftless.secrets.sops import SecretsError
        try:
            return decrypt_text(data, fmt=fmt, keys=self._keys(environ), source=label).data
        except SecretsError as exc:
            return exc
        except RecursionError:
            return SecretsError(f"{label} is nested too deeply to decrypt")

    def _keys(self, environ: Mapping[str, str]) -> KeyRing:
        """The operator's age identities, collected on first use only."""
        from driftless.secrets.sops import KeyRing, SecretsError
        if self._ring is None:
            try:
                self._ring = KeyRing.from_environ(environ)
            except SecretsError as exc:
                self._ring = exc
        if isinstance(self._ring, SecretsError):
            raise self._ring
        return self._ring


@record
class Opened:
    """A SOPS file as render sees it.

    ``values`` are its top-level values (encrypted ones ``Sensitive``, or
    ``LOCKED`` when it could not be opened), ``locs`` where each was written,
    ``problem`` why it could not be opened (None when it was), ``missing_key``
    whether that is only for want of an identity (CI may go on without it).
    A file that could not be read at all gives no values, only the problem.
    """

    values: Mapping[str, Any]
    locs: Mapping[str, Loc]
    problem: Problem | None = None
    missing_key: bool = False
    from_text: bool = False  # dotenv values are text, read in the declared type


def has_locked(value: Any) -> bool:
    """Whether any part of ``value`` is an encrypted value nobody here could open."""
    if value is LOCKED:
        return True
    if isinstance(value, Mapping):
        return any(has_locked(v) for v in value.values())
    if isinstance(value, list):
        return any(has_locked(v) for v in value)
    return False


# -- a values file that is itself a SOPS document -------------------------------------

def open_values_doc(project: Project, doc: Mapping[str, Any], path: Path, label: str,
                    cache: SopsCache, environ: Mapping[str, str]) -> Opened:
    """``doc`` (the parsed encrypted YAML, which knows every key's position) with
    ``sops:`` dropped and each encrypted leaf replaced by its ``Sensitive`` value,
    as ``Opened.values``.

    The tree keeps the encrypted file's locations, so a problem with a value
    still points into that file. When the file cannot be opened, the
    encrypted leaves are ``LOCKED`` and the ``Opened`` says why.
    """
    from driftless.secrets.sops import SecretsError
    not_cacheable("a SOPS file")  # what opens it (age keys) is not a file render reads
    at = key_where(doc, "sops") or (label, 1, 1)
    bare = _without_meta(doc)
    try:
        real = confine(path, project.root, project.policy, label=label)
        data = read_limited(real, label, project.policy.limits.file_bytes)
        plain = cache.decrypt(data, _format_of(path.name) or "yaml", path=real, label=label,
                              environ=environ)
    except RenderError as exc:
        return Opened(_lock_tree(bare), {}, exc.problems[0])
    except SecretsError as exc:
        return Opened(_lock_tree(bare), {}, _failed(exc, at), _is_no_key(exc))
    return Opened(_reveal(bare, plain), {})


def _without_meta(doc: Mapping[str, Any]) -> LocDict:
    """The document without its ``sops:`` block (a copy: parsed files are shared)."""
    out = _copy_map(doc)
    out.pop("sops", None)
    return out


def _reveal(enc: Any, plain: Any) -> Any:
    """``enc`` with every ``ENC[...]`` leaf replaced by the same place in ``plain``,
    wrapped; values left in clear keep the encrypted file's own parse."""
    if isinstance(enc, str) and enc.startswith(_ENCRYPTED):
        return Sensitive(_plain(plain))
    if isinstance(enc, Mapping) and isinstance(plain, Mapping):
        out = _copy_map(enc)
        for key, value in enc.items():
            out[key] = _reveal(value, plain.get(key))
        return out
    if isinstance(enc, list) and isinstance(plain, list) and len(enc) == len(plain):
        return _copy_list(enc, [_reveal(e, p) for e, p in zip(enc, plain, strict=True)])
    return enc


def _lock_tree(enc: Any) -> Any:
    """``enc`` with every ``ENC[...]`` leaf ``LOCKED``."""
    if isinstance(enc, str) and enc.startswith(_ENCRYPTED):
        return LOCKED
    if isinstance(enc, Mapping):
        out = _copy_map(enc)
        for key, value in enc.items():
            out[key] = _lock_tree(value)
        return out
    if isinstance(enc, list):
        return _copy_list(enc, [_lock_tree(e) for e in enc])
    return enc


def _copy_map(doc: Mapping[str, Any]) -> LocDict:
    """A LocDict with ``doc``'s items and locations."""
    out = LocDict(doc)
    if isinstance(doc, LocDict):
        out.loc, out.locs, out.key_locs = doc.loc, dict(doc.locs), dict(doc.key_locs)
    return out


def _copy_list(items: list[Any], new: list[Any]) -> LocList:
    """``new`` with the locations of ``items``."""
    out = LocList(new)
    if isinstance(items, LocList):
        out.loc, out.locs = items.loc, list(items.locs)
    return out


def _plain(value: Any) -> Any:
    """A decrypted value as plain dicts, lists and scalars (no YAML library types)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for base in (bool, int, float, str):  # bool first: it is an int too
        if isinstance(value, base):
            return value if type(value) is base else base(value)
    return value


# -- an entry of a secrets: list -------------------------------------------------------

def open_secrets_file(project: Project, entry: Any, at: Loc | None, cache: SopsCache,
                      environ: Mapping[str, str]) -> Opened:
    """The variables a ``secrets:`` entry gives, every value ``Sensitive``.

    The entry is a path relative to the project root, confined like every
    other read; it must be a SOPS file (a plaintext one there is a leak, not
    a secret). Problems are reported at the entry (``at``).
    """
    from driftless.secrets.sops import SecretsError
    not_cacheable("a SOPS file")
    if isinstance(entry, Sensitive) or entry is LOCKED:
        return Opened({}, {}, problem_at(
            "a secrets: entry is encrypted; file names are not secret", at,
            hint="leave secrets: in clear, e.g. with the sops rule encrypted_regex: "
                 "^variables$"))
    if not isinstance(entry, str) or not entry.strip():
        return Opened({}, {}, problem_at("a secrets: entry must be a file path in the "
                                         "project", at))
    fmt = _format_of(entry)
    if fmt is None:
        return Opened({}, {}, problem_at(
            f"'{entry}': a secrets file must be .yaml, .yml, .json, .env or .ini", at,
            hint="the format comes from the extension, as in sops"))
    try:
        real = confine(project.root / entry, project.root, project.policy, at=at, label=entry)
        data = read_limited(real, entry, project.policy.limits.file_bytes)
        clear = _clear_doc(project, real, entry, data, fmt, at)
    except RenderError as exc:
        return Opened({}, {}, _at_entry(exc.problems[0], at))
    if not is_sops_document(clear):
        return Opened({}, {}, problem_at(
            f"'{entry}' is not encrypted with sops; secrets: lists SOPS files only", at,
            hint=f"encrypt it: driftless secrets encrypt -i {entry}"))
    locs = _name_locs(clear, fmt, at)
    text = fmt == "dotenv"
    try:
        plain = cache.decrypt(data, fmt, path=real, label=entry, environ=environ)
    except SecretsError as exc:
        names = dict.fromkeys(map(str, _top_level(clear, fmt)), LOCKED)
        return Opened(names, locs, _failed(exc, at), _is_no_key(exc), text)
    values = {str(k): (None if v is None else Sensitive(_plain(v)))
              for k, v in _top_level(plain, fmt).items()}
    return Opened(values, locs, from_text=text)


def _format_of(name: str) -> str | None:
    """The sops format of a file name, or None when it would be binary."""
    lower = name.lower()
    return next((fmt for ext, fmt in _EXTENSIONS.items() if lower.endswith(ext)), None)


def _clear_doc(project: Project, path: Path, label: str, data: bytes, fmt: str,
               at: Loc | None) -> Any:
    """The file as it is in Git (keys clear, values ``ENC[...]``), read without a key:
    it says which variables the file gives, and where."""
    if fmt == "yaml":
        return project.load(path, at=at)
    text = data.decode("utf-8", "replace")
    if fmt == "json":
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise RenderError([problem_at(f"'{label}' is not valid JSON", at)]) from None
    if fmt == "dotenv":
        return _dotenv_keys(text)
    return _ini_keys(text)


def _dotenv_keys(text: str) -> dict[str, Any]:
    """``KEY=...`` lines as a map (values as written; comments and blanks skipped)."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            out[key.strip()] = value
    return out


def _ini_keys(text: str) -> dict[str, Any]:
    """``[section]`` names as a map of their ``key = value`` lines."""
    out: dict[str, dict[str, str]] = {}
    section: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1].strip(), {})
        elif section is not None and "=" in line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            section[key.strip()] = value.strip()
    return out


def _top_level(doc: Any, fmt: str) -> Mapping[str, Any]:
    """The file's variables: its top-level map without the sops metadata."""
    if not isinstance(doc, Mapping):
        return {}
    if fmt == "dotenv":
        return {k: v for k, v in doc.items() if not str(k).startswith("sops_")}
    return {k: v for k, v in doc.items() if k != "sops"}


def _name_locs(doc: Any, fmt: str, at: Loc | None) -> dict[str, Loc]:
    """Each variable the file names, where it is written (YAML), else at the entry."""
    out: dict[str, Loc] = {}
    for key in _top_level(doc, fmt):
        loc = (where(doc, str(key)) if isinstance(doc, LocDict) else None) or at
        if loc is not None:
            out[str(key)] = loc
    return out


def _at_entry(problem: Problem, at: Loc | None) -> Problem:
    """A problem reading the file, placed at the entry that named it when it has no
    place of its own (a missing file says nothing about where it was asked for)."""
    if problem.line is not None or at is None:
        return problem
    return Problem(problem.message if problem.file is None else
                   f"{problem.file}: {problem.message}", at[0], at[1], at[2], problem.hint)


def _failed(exc: SecretsError, at: Loc | None) -> Problem:
    """The decryption failure as a problem at ``at`` (its message never holds a value)."""
    return problem_at(exc.message, at, hint=exc.hint)


def _is_no_key(exc: SecretsError) -> bool:
    """Whether the file failed only because no identity here opens it (CI without keys)
    rather than being broken, tampered with or PGP-only."""
    return exc.message.startswith(_NO_KEY)
