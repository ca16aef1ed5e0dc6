"""Masking secret text inside messages and attributes: a value is secret, not a place.

A provider error may quote a path, a command line or log lines that were
built from a sensitive value; it cannot know which parts are secret. The
engine, which does, runs every message it passes on through a ``Redactor``
built from the stack's sensitive values. The secrets are gathered only when
a message first needs redacting, so the happy path pays nothing.

Attributes a provider reads back (tags, a command line, user data) may hold
a resource's secret too. ``secure_attributes`` replaces every string that
holds one by that string's keyed digest, which is exactly what
``comparable`` makes of the desired value, so diffs still compare like with
like. ``rekey`` rewrites digests made with the old compiled-in key. Pure
(digests use the key from ``digest_key``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from driftless.errors import DriftlessError, Problem, RenderError
from driftless.model.values import (
    SCALARS,
    Sensitive,
    contains_sensitive,
    is_digest,
    is_legacy_digest,
    legacy_digest,
    sensitive_digest,
)

__all__ = ["MASK", "MIN_SECRET", "Redactor", "digest_candidates", "has_legacy_digest",
           "holds_secret", "rekey", "scrub", "seal", "secret_texts", "secure_attributes"]

MASK = "(sensitive)"
# Shorter secrets would mask ordinary words and numbers in every message;
# a secret of one to three characters protects nothing anyway.
MIN_SECRET = 4


def secret_texts(value: Any) -> frozenset[str]:
    """Every text form a sensitive value inside ``value`` may take in a message."""
    if not contains_sensitive(value):
        return frozenset()  # every read and diff asks: the common answer must be quick
    return frozenset(t for s in _sensitive(value)
                     for t in (*_forms(s.value), *(f for o in s.origins for f in _forms(o)))
                     if len(t) >= MIN_SECRET)


def _sensitive(value: Any) -> Iterator[Sensitive]:
    if isinstance(value, Sensitive):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _sensitive(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _sensitive(v)


def _forms(value: Any) -> Iterator[str]:
    """The value as str(), as repr() (quotes escaped) and as JSON would write it."""
    if isinstance(value, Sensitive):
        yield from _forms(value.value)
    elif isinstance(value, Mapping | list | tuple):
        for v in (value.values() if isinstance(value, Mapping) else value):
            yield from _forms(v)
    elif value is not None:
        text = str(value)
        yield text
        yield repr(text)[1:-1]
        yield json.dumps(text)[1:-1]


class Redactor:
    """Replaces every secret of some values with ``(sensitive)`` in any text."""

    def __init__(self, *sources: Any) -> None:
        self._sources = sources
        self._secrets: tuple[str, ...] | None = None

    def _list(self) -> tuple[str, ...]:
        if self._secrets is None:
            found: set[str] = set()
            for source in self._sources:
                found |= secret_texts(source)
            self._secrets = tuple(sorted(found, key=len, reverse=True))  # longest first
        return self._secrets

    def text(self, message: str) -> str:
        """``message`` with every secret masked."""
        for secret in self._list():
            if secret in message:
                message = message.replace(secret, MASK)
        return message

    def texts(self, messages: Iterable[str]) -> list[str]:
        """Each message masked."""
        return [self.text(m) for m in messages]

    def error(self, exc: DriftlessError) -> DriftlessError:
        """``exc`` with its message, hint (and problems) masked in place."""
        exc.message = self.text(exc.message)
        exc.args = (exc.message, *exc.args[1:])
        if exc.hint is not None:
            exc.hint = self.text(exc.hint)
        if isinstance(exc, RenderError):
            exc.problems = tuple(self.problem(p) for p in exc.problems)
        return exc

    def problem(self, problem: Problem) -> Problem:
        """A problem with its message and hint masked."""
        return Problem(self.text(problem.message), problem.file, problem.line, problem.column,
                       hint=self.text(problem.hint) if problem.hint else None)


def scrub(value: Any, secrets: Collection[str]) -> Any:
    """``value`` with every string holding a secret replaced by that string's digest.

    The whole string, not only the secret inside it: ``comparable`` digests a
    value derived from a secret (``echo ${var.s}``) whole, so the scrubbed
    attribute still equals the desired value's comparable form.
    """
    if not secrets or value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if is_digest(value) or not any(s in value for s in secrets):
            return value
        return sensitive_digest(value)
    if isinstance(value, int | float):
        return sensitive_digest(value) if str(value) in secrets else value
    if isinstance(value, Mapping):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    return value


def seal(value: Any) -> Any:
    """An attribute that is secret by nature, as one digest (None stays None).

    Strings digest as ``Sensitive(value).digest()`` does, so a desired secret
    and the attribute read back compare equal; other values digest as JSON.
    """
    if value is None or is_digest(value):
        return value
    if isinstance(value, str | bytes):
        return sensitive_digest(value)
    return sensitive_digest(json.dumps(value, sort_keys=True, default=str))


def secure_attributes(
    attrs: Mapping[str, Any], *, secrets: Collection[str], sensitive: Collection[str] = (),
    identity: Collection[str] = (),
) -> Mapping[str, Any]:
    """Attributes safe to keep: ``sensitive`` ones sealed, the rest scrubbed.

    ``identity`` attributes (a path, an id) stay as they are: the provider
    finds the object again by them, so a digest there would break delete;
    whole-state encryption is what protects them. Returns ``attrs`` itself
    when nothing needed to change.
    """
    if not secrets and not sensitive:
        return attrs
    out = {k: v if k in identity else seal(v) if k in sensitive else scrub(v, secrets)
           for k, v in attrs.items()}
    return attrs if out == attrs else out


def holds_secret(value: Any, secrets: Collection[str]) -> bool:
    """Whether ``value`` holds a digest or the text of a secret (so it must not be shown)."""
    if isinstance(value, str):
        return is_digest(value) or any(s in value for s in secrets)
    if isinstance(value, Sensitive):
        return True
    if isinstance(value, Mapping):
        return any(holds_secret(v, secrets) for v in value.values())
    if isinstance(value, list | tuple):
        return any(holds_secret(v, secrets) for v in value)
    return value is not None and not isinstance(value, bool) and str(value) in secrets


def has_legacy_digest(*values: Any) -> bool:
    """Whether any of ``values`` holds a digest made with the old compiled-in key.

    Iterative and by class: every plan asks this of every resource's state.
    """
    todo = list(values)
    while todo:
        v = todo.pop()
        cls = v.__class__
        if cls is str:
            if len(v) == _LEGACY_LEN and is_legacy_digest(v):
                return True
        elif cls in SCALARS:
            continue
        elif cls is list or cls is tuple:
            todo.extend(v)
        elif cls is dict or isinstance(v, Mapping):
            todo.extend(v.values())
    return False


_LEGACY_LEN = len(legacy_digest(""))


def digest_candidates(value: Any) -> list[Any]:
    """Every value inside ``value`` whose digest state may hold (for ``rekey``).

    Leaves, revealed, as providers digest them (booleans also as an env file
    spells them), and each sensitive container whole, as ``Sensitive.digest``
    digests it.
    """
    out: list[Any] = []
    if isinstance(value, Sensitive):
        if isinstance(value.value, Mapping | list | tuple):
            out.append(value.value)
        out.extend(digest_candidates(value.value))
        out.extend(value.origins)
    elif isinstance(value, Mapping):
        for v in value.values():
            out.extend(digest_candidates(v))
    elif isinstance(value, list | tuple):
        for v in value:
            out.extend(digest_candidates(v))
    elif isinstance(value, bool):
        out.extend((value, "true" if value else "false"))
    elif value is not None:
        out.append(value)
    return out


def rekey(value: Any, candidates: Iterable[Any]) -> Any:
    """``value`` with each legacy digest of a candidate rewritten under the current key.

    Why: state written before per-operator keys holds digests made with the
    compiled-in key; each one that matches a value of the configuration is
    rewritten, so the secret does not look changed. A legacy digest of no
    candidate (the secret really changed) stays and shows as a diff.
    """
    if not has_legacy_digest(value):
        return value
    table = {legacy_digest(c): c for c in candidates}
    return _rekeyed(value, table)


def _rekeyed(value: Any, table: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return sensitive_digest(table[value]) if value in table else value
    if isinstance(value, Mapping):
        return {k: _rekeyed(v, table) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rekeyed(v, table) for v in value]
    return value
