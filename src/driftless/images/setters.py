"""Flux-compatible setter markers: rewrite image references in YAML in place.

A scalar followed by a comment ``# {"$imagepolicy": "<policy>"}`` becomes the
policy's latest image (``repo:tag``, with ``@digest`` when the policy keeps
digests); ``<policy>:tag`` sets only the tag, ``<policy>:name`` only the
repository, ``<policy>:digest`` only the digest. Policies are named as in
Flux, ``namespace:name``.

The file is parsed with ruamel's round-trip loader, which knows where each
value starts and that the marker is a real comment (not text inside a
string); only the characters of the value change, so comments, layout,
quoting and line endings stay exactly as they were. I/O: ``update_tree``
reads and writes the files under the directories it is given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from driftless.records import record

__all__ = ["LatestImage", "SetterChange", "update_text", "update_tree"]

_MARKER = re.compile(r'#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]+)"\s*\}\s*$')
_FIELDS = ("tag", "name", "digest")
_NOT_PLAIN = re.compile(  # values YAML would not read back as the same string if unquoted
    r"^(?:[-+]?[0-9_]+|[-+]?[0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|0[xo][0-9a-fA-F_]+|"
    r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|true|false|yes|no|on|off|null|~|"
    r"True|False|Yes|No|On|Off|Null|TRUE|FALSE|NULL)$|^[\s\[\]{}&*!|>'\"%@`#,?:-]|:\s|\s#|\s$")
_MAX_BYTES = 1 << 20
_MAX_NODES = 50_000
_YAML_NAMES = ("kustomization", "Kustomization")


@record
class LatestImage:
    """What a policy selected: ``repository:tag`` (and its digest, when kept)."""

    repository: str
    tag: str
    digest: str | None = None

    def value(self, field: str | None) -> str:
        if field == "tag":
            return self.tag
        if field == "name":
            return self.repository
        if field == "digest":
            return self.digest or ""
        ref = f"{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


@record
class SetterChange:
    """One value a marker changed."""

    file: str
    line: int  # 1-based
    policy: str
    field: str | None
    old: str
    new: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "policy": self.policy,
                "field": self.field, "old": self.old, "new": self.new}


def _split_marker(marker: str, policies: Mapping[str, LatestImage]
                  ) -> tuple[str, str | None] | None:
    if marker in policies:
        return marker, None
    head, _, field = marker.rpartition(":")
    if field in _FIELDS and head in policies:
        return head, field
    return None


def _scalar_starts(docs: Sequence[Any]) -> dict[int, list[tuple[int, Any]]]:
    """0-based line -> [(column, value)] of every scalar in a mapping or sequence."""
    starts: dict[int, list[tuple[int, Any]]] = {}
    seen: set[int] = set()
    stack = list(docs)
    while stack:
        node = stack.pop()
        if id(node) in seen or len(seen) > _MAX_NODES:
            continue
        seen.add(id(node))
        if isinstance(node, CommentedMap):
            items: Iterator[tuple[Any, tuple[int, int]]] = (
                (node[k], node.lc.value(k)) for k in node)
        elif isinstance(node, CommentedSeq):
            items = ((v, node.lc.item(i)) for i, v in enumerate(node))
        else:
            continue
        for value, (line, col) in items:
            if isinstance(value, CommentedMap | CommentedSeq):
                stack.append(value)
            elif value is not None:
                starts.setdefault(line, []).append((col, value))
    return starts


def _raw_value(line: str, col: int, end: int, value: Any) -> tuple[str, str] | None:
    """(quote, text) of the scalar at ``line[col:end]`` when it is exactly ``value``."""
    raw = line[col:end].rstrip()
    if not raw or raw[0] in "|>&*!":
        return None
    if raw[0] in "\"'":
        if len(raw) < 2 or raw[-1] != raw[0] or raw[1:-1] != str(value) or "\\" in raw:
            return None
        return raw[0], raw[1:-1]
    return ("", raw) if raw == str(value) or _same_number(raw, value) else None


def _same_number(raw: str, value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        raw.replace("_", "") == str(value)


def _quoted(quote: str, new: str) -> str:
    if quote == "'":
        return "'" + new.replace("'", "''") + "'"
    if quote == '"' or _NOT_PLAIN.search(new):
        return '"' + new.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return new


def update_text(text: str, policies: Mapping[str, LatestImage], *, name: str = "<text>"
                ) -> tuple[str, list[SetterChange]]:
    """``text`` with every marked value set; the changes made (none: same text)."""
    if "$imagepolicy" not in text or len(text) > _MAX_BYTES:
        return text, []
    try:
        docs = list(YAML(typ="rt").load_all(text))
    except YAMLError:
        return text, []  # not YAML: nothing of ours to set
    starts = _scalar_starts(docs)
    lines = text.splitlines(keepends=True)
    changes: list[SetterChange] = []
    for n, line in enumerate(lines):
        marker = _MARKER.search(line)
        found = _split_marker(marker[1], policies) if marker else None
        candidates = [(c, v) for c, v in starts.get(n, ()) if marker and c < marker.start()]
        if marker is None or found is None or not candidates:
            continue
        col, value = max(candidates, key=lambda cv: cv[0])
        raw = _raw_value(line, col, marker.start(), value)
        policy, field = found
        new = policies[policy].value(field)
        if raw is None or not new or raw[1] == new:
            continue
        end = col + len(line[col:marker.start()].rstrip())
        lines[n] = line[:col] + _quoted(raw[0], new) + line[end:]
        changes.append(SetterChange(name, n + 1, policy, field, raw[1], new))
    return "".join(lines), changes


def _candidates(root: Path, paths: Sequence[str]) -> Iterator[Path]:
    for sub in paths or ["."]:
        base = (root / sub).resolve()
        if not base.is_relative_to(root.resolve()):
            continue
        if base.is_file():
            yield base
            continue
        for folder, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                if f.endswith((".yaml", ".yml")) or f in _YAML_NAMES:
                    yield Path(folder) / f


def update_tree(root: Path, policies: Mapping[str, LatestImage], *,
                paths: Sequence[str] = (), write: bool = True) -> list[SetterChange]:
    """Set the markers of every YAML file under ``root``/``paths`` (symlinks and
    files outside ``root`` are left alone); with ``write=False`` only report."""
    changes: list[SetterChange] = []
    for path in _candidates(root, paths):
        if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
            continue
        data = path.read_bytes()
        if len(data) > _MAX_BYTES or b"$imagepolicy" not in data:
            continue
        text = data.decode("utf-8", errors="strict")
        rel = path.relative_to(root).as_posix()
        new, found = update_text(text, policies, name=rel)
        if found and write:
            path.write_bytes(new.encode("utf-8"))
        changes.extend(found)
    return changes
