"""Which values of a SOPS tree are encrypted, and how the tree is walked.

Pure code, no I/O. It mirrors ``shouldBeEncrypted`` and ``walkBranch`` in the
sops source: the rules (``unencrypted_suffix`` — the default ``_unencrypted``
— ``encrypted_suffix``, ``unencrypted_regex``, ``encrypted_regex``,
``unencrypted_comment_regex``, ``encrypted_comment_regex``) look at the path
of map keys above a value and at the comments just before it. Patterns come
from files in the repository, so they are compiled with RE2 (linear time, the
same syntax as Go's ``regexp``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import fields
from typing import Any

import re2

from driftless.records import record
from driftless.secrets.sops_cipher import Comment, SecretsError

__all__ = ["RULE_KEYS", "Branch", "CryptRules", "Leaf", "compile_pattern", "walk"]

RULE_KEYS = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
             "unencrypted_comment_regex", "encrypted_comment_regex")
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a bad pattern is reported as an error, not a log line


class Branch(list[list[Any]]):
    """An ordered map that may hold comments as keys and repeat keys: ``[[key, value], ...]``.

    dotenv and INI files need it (comments are items there, as in sops);
    JSON and YAML use ordinary mappings.
    """


Leaf = Callable[[Any, list[str], list[list[str]], bool], Any]


@functools.lru_cache(maxsize=64)
def compile_pattern(name: str, pattern: str) -> Any:
    """Compile one pattern once (the walk asks for it per value), naming it when invalid."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error:
        raise SecretsError(f"{name} is not a valid regular expression") from None


@record
class CryptRules:
    """The one encryption rule a file records (sops allows at most one)."""

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: str = ""
    encrypted_regex: str = ""
    unencrypted_comment_regex: str = ""
    encrypted_comment_regex: str = ""
    mac_only_encrypted: bool = False

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> CryptRules:
        """Read the rules from ``sops:`` metadata or a creation rule; none means the
        default ``unencrypted_suffix: _unencrypted``."""
        values = {k: str(doc.get(k) or "") for k in RULE_KEYS}
        chosen = [k for k, v in values.items() if v]
        if len(chosen) > 1:
            raise SecretsError("only one of " + ", ".join(RULE_KEYS) + " may be set; found "
                               + ", ".join(chosen))
        if not chosen:
            values["unencrypted_suffix"] = DEFAULT_UNENCRYPTED_SUFFIX
        for name in chosen:
            if name.endswith("regex"):
                compile_pattern(f"sops rule {name}", values[name])
        only = doc.get("mac_only_encrypted") in (True, "true", "True")
        return cls(**values, mac_only_encrypted=only)

    def as_metadata(self) -> dict[str, Any]:
        """The non-empty rule fields, as written into ``sops:``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in out.items() if v}

    def should_encrypt(self, path: list[str], comments: list[list[str]],
                       is_comment: bool) -> bool:
        """Whether the value at ``path`` (after ``comments``) is encrypted."""
        encrypted = True
        if self.unencrypted_suffix and any(p.endswith(self.unencrypted_suffix) for p in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(p.endswith(self.encrypted_suffix) for p in path)
        if self.unencrypted_regex and self._any(self.unencrypted_regex, path):
            encrypted = False
        if self.encrypted_regex:
            encrypted = self._any(self.encrypted_regex, path)
        if self.unencrypted_comment_regex:
            flat = [c for group in comments for c in group]
            if self._any(self.unencrypted_comment_regex, flat):
                encrypted = False
        if self.encrypted_comment_regex:
            encrypted = self._any(self.encrypted_comment_regex,
                                  _comments_before(comments, is_comment))
        return encrypted

    @staticmethod
    def _any(pattern: str, texts: list[str]) -> bool:
        """Unanchored search, like Go's ``regexp.Match``."""
        compiled = compile_pattern("sops rule", pattern)
        return any(compiled.search(t) is not None for t in texts)


def _comments_before(comments: list[list[str]], is_comment: bool) -> list[str]:
    """All active comments; for a comment itself, all but that comment (sops does not
    encrypt the comment line that switches encryption on)."""
    flat = [c for group in comments for c in group]
    if is_comment and comments and comments[-1]:
        flat.pop()
    return flat


def walk(tree: Any, leaf: Leaf, path: list[str] | None = None,
         comments: list[list[str]] | None = None) -> Any:
    """Visit every leaf in document order and replace it by ``leaf(value, path,
    comments, is_comment)``; ``None`` is left alone (sops neither encrypts nor MACs it)."""
    path = path or []
    comments = comments or []
    if isinstance(tree, Branch):
        return _walk_branch(tree, leaf, path, comments)
    if isinstance(tree, MutableMapping):
        return _walk_mapping(tree, leaf, path, comments)
    if isinstance(tree, list):
        return _walk_list(tree, leaf, path, comments)
    if tree is None:
        return None
    return leaf(tree, path, comments, isinstance(tree, Comment))


def _walk_branch(branch: Branch, leaf: Leaf, path: list[str],
                 comments: list[list[str]]) -> Branch:
    """Comments are items here: each joins the active comments until a value ends them."""
    stack = [*comments, []]
    for item in branch:
        key = item[0]
        if isinstance(key, Comment):
            stack[-1].append(key.value)
            item[0] = _as_comment(leaf(key, path, stack, True), key)
            continue
        item[1] = walk(item[1], leaf, [*path, _key_text(key)], stack)
        stack[-1] = []
    return branch


def _walk_mapping(mapping: MutableMapping[Any, Any], leaf: Leaf, path: list[str],
                  comments: list[list[str]]) -> MutableMapping[Any, Any]:
    """A plain mapping has no comment items; its values are walked in key order."""
    stack = [*comments, []]
    for key in list(mapping):
        mapping[key] = walk(mapping[key], leaf, [*path, _key_text(key)], stack)
    return mapping


def _walk_list(items: list[Any], leaf: Leaf, path: list[str],
               comments: list[list[str]]) -> list[Any]:
    """List items keep the path of the list (sops puts no index in the path)."""
    stack = [*comments, []]
    for i, value in enumerate(items):
        if isinstance(value, Comment):
            stack[-1].append(value.value)
            items[i] = _as_comment(leaf(value, path, stack, True), value)
            continue
        items[i] = walk(value, leaf, path, stack)
        stack[-1] = []
    return items


def _as_comment(result: Any, original: Comment) -> Comment:
    """A walked comment stays a comment (encrypted text or decrypted text)."""
    return result if isinstance(result, Comment) else Comment(str(result), original.inline)


def _key_text(key: Any) -> str:
    """sops only supports string keys; YAML may have others, which we refuse clearly."""
    if isinstance(key, str):
        return key
    raise SecretsError(f"a map key of type {type(key).__name__} is not supported by sops "
                       "(only string keys)")
