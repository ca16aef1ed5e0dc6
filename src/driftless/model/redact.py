"""Masking secret text inside messages: a value is secret, not a place.

A provider error may quote a path, a command line or log lines that were
built from a sensitive value; it cannot know which parts are secret. The
engine, which does, runs every message it passes on through a ``Redactor``
built from the stack's sensitive values. The secrets are gathered only when
a message first needs redacting, so the happy path pays nothing. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from driftless.errors import DriftlessError, Problem, RenderError
from driftless.model.values import Sensitive

__all__ = ["MASK", "MIN_SECRET", "Redactor", "secret_texts"]

MASK = "(sensitive)"
# Shorter secrets would mask ordinary words and numbers in every message;
# a secret of one to three characters protects nothing anyway.
MIN_SECRET = 4


def secret_texts(value: Any) -> frozenset[str]:
    """Every text form a sensitive value inside ``value`` may take in a message."""
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
