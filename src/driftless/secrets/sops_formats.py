"""Reading and writing the SOPS file formats other than YAML: JSON, dotenv, INI, binary.

Pure text <-> tree conversion, no file I/O. Each loader returns the data
branches and the raw ``sops`` metadata (``None`` for a plain file); each
emitter takes branches plus metadata and returns the file's bytes, laid out
as the sops CLI writes them:

* JSON: tab-indented, metadata under a top-level ``"sops"`` key;
* dotenv: ``KEY=value`` lines, metadata flattened to ``sops_age__list_0__map_enc=...``;
* INI: metadata flattened into a ``[sops]`` section, newlines escaped as ``\\n``;
* binary: the whole file is one string under ``data``, stored as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

from driftless.secrets.sops_cipher import Comment, SecretsError
from driftless.secrets.sops_rules import Branch

__all__ = ["EXTENSIONS", "flatten", "format_for", "load", "unflatten"]

EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv",
              ".ini": "ini"}
_MAP, _LIST = "__map_", "__list_"
_TOKEN = re.compile(r"(__map_|__list_)")


def format_for(name: str) -> str:
    """The sops store for a file name, as sops picks it (unknown extensions are binary)."""
    lower = name.lower()
    for ext, fmt in EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    return "binary"


def load(text: bytes, fmt: str) -> tuple[list[Any], dict[str, Any] | None]:
    """Parse a non-YAML file into (branches, metadata or None)."""
    if fmt in ("json", "binary"):
        return _load_json(text, binary_plain=False)
    if fmt == "dotenv":
        return _load_dotenv(text)
    if fmt == "ini":
        return _load_ini(text)
    raise SecretsError(f"unknown sops format '{fmt}'")


def load_plain(text: bytes, fmt: str) -> list[Any]:
    """Parse a plaintext file (no metadata allowed) into branches."""
    if fmt == "binary":
        return [{"data": text.decode("utf-8", "surrogateescape")}]
    branches, meta = load(text, fmt)
    if meta is not None:
        raise SecretsError("the file is already encrypted with sops")
    return branches


def emit(branches: list[Any], meta: dict[str, Any] | None, fmt: str) -> bytes:
    """Serialise branches (+ metadata when given) in the sops layout of ``fmt``."""
    if fmt == "binary" and meta is None:
        return str(branches[0].get("data", "")).encode("utf-8", "surrogateescape")
    if fmt in ("json", "binary"):
        doc = dict(branches[0])
        if meta is not None:
            doc["sops"] = meta
        return (json.dumps(doc, indent="\t", ensure_ascii=False) + "\n").encode()
    if fmt == "dotenv":
        return _emit_dotenv(branches[0], meta)
    if fmt == "ini":
        return _emit_ini(branches[0], meta)
    raise SecretsError(f"unknown sops format '{fmt}'")


# -- JSON and binary ---------------------------------------------------------------

def _load_json(text: bytes, *, binary_plain: bool) -> tuple[list[Any], dict[str, Any] | None]:
    """A JSON object; the ``sops`` key is the metadata."""
    try:
        doc = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SecretsError(f"not valid JSON: {exc.__class__.__name__} at "
                           f"{getattr(exc, 'lineno', '?')}:{getattr(exc, 'colno', '?')}") from None
    if not isinstance(doc, dict):
        raise SecretsError("sops only supports JSON files with a top-level object")
    meta = doc.pop("sops", None)
    if meta is not None and not isinstance(meta, dict):
        raise SecretsError("the 'sops' entry is not a mapping")
    return [doc], meta


# -- dotenv ------------------------------------------------------------------------

def _load_dotenv(text: bytes) -> tuple[list[Any], dict[str, Any] | None]:
    """``KEY=value`` lines and ``#`` comments; ``\\n`` in a value is a newline."""
    branch = Branch()
    flat: dict[str, Any] = {}
    for number, raw in enumerate(text.decode("utf-8", "surrogateescape").split("\n"), 1):
        line = raw
        if not line:
            continue
        if line.startswith("#"):
            branch.append([Comment(line[1:]), None])
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise SecretsError(f"line {number}: not a KEY=value line")
        value = value.replace("\\n", "\n")
        if key.startswith("sops_"):
            flat[key[len("sops_"):]] = value
        else:
            branch.append([key, value])
    return [branch], (unflatten(flat) if flat else None)


def _emit_dotenv(branch: Branch, meta: dict[str, Any] | None) -> bytes:
    """One line per item; metadata last, flattened with the ``sops_`` prefix."""
    lines = []
    items = list(branch) + [[f"sops_{k}", v] for k, v in flatten(meta or {}).items()]
    for key, value in items:
        if isinstance(key, Comment):
            lines.append(f"#{key.value}")
            continue
        if isinstance(value, (dict, list)):
            raise SecretsError(f"cannot use a nested value in a dotenv file (key {key})")
        lines.append(f"{key}=" + _scalar_text(value).replace("\n", "\\n"))
    return ("".join(line + "\n" for line in lines)).encode("utf-8", "surrogateescape")


# -- INI ---------------------------------------------------------------------------

def _load_ini(text: bytes) -> tuple[list[Any], dict[str, Any] | None]:
    """Sections of ``key = value``; comments before a key or section belong to it."""
    root = Branch()
    section: Branch | None = None
    pending: list[str] = []
    for number, raw in enumerate(text.decode("utf-8", "surrogateescape").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line[0] in "#;":
            pending.append(line)
        elif line.startswith("["):
            if not line.endswith("]"):
                raise SecretsError(f"line {number}: unclosed section header")
            section = Branch()
            root.append([line[1:-1].strip(), section])
            if pending:
                section.append([Comment(_ini_comment(pending)), None])
            pending = []
        else:
            section = section if section is not None else _default_section(root)
            key, value = _ini_pair(line, number)
            section.append([key, value])
            if pending:
                section.append([Comment(_ini_comment(pending)), None])
            pending = []
    return _split_ini_meta(root)


def _default_section(root: Branch) -> Branch:
    """Keys before any header belong to ``DEFAULT``, as in go-ini."""
    section = Branch()
    root.insert(0, ["DEFAULT", section])
    return section


def _ini_pair(line: str, number: int) -> tuple[str, str]:
    """``key = value`` or ``key: value``; quotes and inline comments as go-ini reads them."""
    match = re.match(r"([^=:]+?)\s*[=:]\s*(.*)$", line)
    if match is None:
        raise SecretsError(f"line {number}: not a key = value line")
    value = match.group(2)
    for quote in ('"""', "`", '"'):
        if len(value) >= 2 * len(quote) and value.startswith(quote) and value.endswith(quote):
            return match.group(1), value[len(quote):-len(quote)]
    cut = min((i for i in (value.find("#"), value.find(";")) if i >= 0), default=-1)
    return match.group(1), (value[:cut].rstrip() if cut >= 0 else value)


def _ini_comment(lines: list[str]) -> str:
    """go-ini joins comment lines; sops strips the marker of the first one only."""
    return "\n".join(lines).lstrip("#; ")


def _split_ini_meta(root: Branch) -> tuple[list[Any], dict[str, Any] | None]:
    """Take the ``[sops]`` section out and unflatten it."""
    meta: dict[str, Any] | None = None
    kept = Branch()
    for name, section in root:
        if name == "sops":
            flat = {k: str(v).replace("\\n", "\n") for k, v in section
                    if not isinstance(k, Comment)}
            meta = unflatten(flat)
        else:
            kept.append([name, section])
    return [kept], meta


def _emit_ini(root: Branch, meta: dict[str, Any] | None) -> bytes:
    """Sections in order, then ``[sops]``; a comment is written above its key."""
    out: list[str] = []
    sections = list(root)
    if meta is not None:
        flat = {k: str(v).replace("\n", "\\n") for k, v in flatten(meta).items()}
        sections.append(["sops", Branch([k, v] for k, v in flat.items())])
    for name, section in sections:
        if not isinstance(section, list):
            raise SecretsError(f"INI value '{name}' is not inside a section")
        if name == "DEFAULT" and not section:
            continue
        out.extend(_ini_section(str(name), Branch(section)))
    return "\n".join(out).encode("utf-8", "surrogateescape") + b"\n"


def _ini_section(name: str, section: Branch) -> list[str]:
    """One section's lines; comments that follow a key in the tree go above it."""
    lines: list[str] = []
    items = list(section)
    if items and isinstance(items[0][0], Comment):
        lines.extend(_ini_comment_lines(items.pop(0)[0].value))
    lines.append(f"[{name}]")
    body: list[str] = []
    for key, value in items:
        if isinstance(key, Comment):
            last = body.pop() if body else None
            body.extend(_ini_comment_lines(key.value))
            if last is not None:
                body.append(last)
            continue
        body.append(f"{key} = {_ini_value(_scalar_text(value))}")
    return [*lines, *body, ""]


def _ini_comment_lines(text: str) -> list[str]:
    """go-ini prefixes a comment line that has no marker with '; '."""
    return [line if line[:1] in ("#", ";") else f"; {line}" for line in text.split("\n")]


def _ini_value(value: str) -> str:
    """Quote a value go-ini would otherwise cut at a comment marker."""
    if "\n" in value or "`" in value:
        return f'"""{value}"""'
    if any(c in value for c in "#;") or value != value.strip():
        return f"`{value}`"
    return value


def _scalar_text(value: Any) -> str:
    """A leaf as text, the way sops' ``ValToString`` writes non-strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


# -- flattened metadata (dotenv and INI) ---------------------------------------------

def flatten(meta: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"age": [{"enc": x}]}`` -> ``{"age__list_0__map_enc": x}``, keys sorted like sops."""
    out: dict[str, Any] = {}
    for key in sorted(meta):
        _flatten_value(meta[key], prefix + key, out)
    return out


def _flatten_value(value: Any, key: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for sub in sorted(value):
            _flatten_value(value[sub], f"{key}{_MAP}{sub}", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten_value(item, f"{key}{_LIST}{i}", out)
    elif value is not None:
        out[key] = value


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``flatten``; lists must be complete (0..n-1)."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = _TOKEN.split(key)
        names = [parts[0], *parts[2::2]]
        node: dict[str, Any] = root
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = value
    result: dict[str, Any] = _lists(root)
    return result


def _lists(node: Any) -> Any:
    """Turn ``{"0": a, "1": b}`` maps produced by ``__list_`` back into lists."""
    if not isinstance(node, dict):
        return node
    fixed = {k: _lists(v) for k, v in node.items()}
    if fixed and all(k.isdigit() for k in fixed):
        indexes = sorted(int(k) for k in fixed)
        if indexes == list(range(len(indexes))):
            return [fixed[str(i)] for i in indexes]
    return fixed
