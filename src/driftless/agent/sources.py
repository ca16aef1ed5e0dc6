"""The agent's view of its Git sources: one fetch at a time, backoff per source.

I/O: git fetches and checkouts through ``driftless.source.GitSource`` into
``<state-dir>/sources/<name>/``. Several stacks share one source and only
the loop calls ``refresh``, so at most one fetch of a source runs at a time;
everything else (stack runs, drift checks) works on the last fetched
revision (``current``) and never touches the network.

A source whose fetch fails is *unavailable* until a fetch succeeds again:
``unavailable`` returns the error and ``retry_at`` when to try next, with
exponential backoff and jitter (``schedule.backoff``, 2 s … 5 min) counted
per source. Nothing but a successful fetch resets it: a stack run that
succeeded on the cached revision says nothing about git.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path

from driftless.agent.config import SourceConfig
from driftless.agent.schedule import backoff
from driftless.errors import ConfigError, SourceError
from driftless.records import record
from driftless.source import GitSource, Source, SourceSpec

__all__ = ["SourceCache"]


@record(frozen=False)
class _Entry:
    git: GitSource
    latest: Source | None = None
    error: SourceError | ConfigError | None = None
    attempt: int = 0  # consecutive failed fetches
    retry_at: float = 0.0
    down_since: float = 0.0
    fetches: int = 0


class SourceCache:
    """Fetched revisions of every configured source, and whether git answers."""

    def __init__(self, sources: Mapping[str, SourceConfig], *, cache_root: Path) -> None:
        self.configs = dict(sources)
        self._lock = threading.Lock()
        self._entries = {
            name: _Entry(GitSource(_spec(cfg), cache_dir=cache_root / name))
            for name, cfg in sources.items()
        }

    def refresh(self, name: str) -> Source:
        """Fetch the newest revision now; on failure record it and raise.

        A ``SourceError`` makes the source unavailable and schedules the next
        try by backoff; a ``ConfigError`` (no such ref or path) is kept until
        a later fetch succeeds, so every stack of the source stalls on it.
        """
        entry = self._entries[name]
        with self._lock:
            entry.fetches += 1
            try:
                entry.latest = entry.git.fetch()
            except SourceError as exc:
                if entry.error is None or not isinstance(entry.error, SourceError):
                    entry.down_since = time.time()
                entry.error, entry.attempt = exc, entry.attempt + 1
                entry.retry_at = time.time() + backoff(entry.attempt - 1)
                raise
            except ConfigError as exc:
                entry.error, entry.attempt, entry.retry_at = exc, 0, 0.0
                raise
            entry.error, entry.attempt, entry.retry_at = None, 0, 0.0
            return entry.latest

    def current(self, name: str) -> Source:
        """The last fetched revision (fetching once if there is none yet).

        Raises the recorded ``ConfigError`` while the ref or path is missing,
        and the ``SourceError`` while git is down and nothing was fetched yet.
        """
        entry = self._entries[name]
        if isinstance(entry.error, ConfigError):
            raise entry.error
        if entry.latest is not None:
            return entry.latest
        if entry.error is not None:
            raise entry.error
        return self.refresh(name)

    def known(self, name: str) -> Source | None:
        """The last fetched revision without fetching (None before the first fetch)."""
        return self._entries[name].latest

    def unavailable(self, name: str) -> SourceError | None:
        """The error of the last fetch while git is unreachable, else None."""
        error = self._entries[name].error
        return error if isinstance(error, SourceError) else None

    def unavailable_note(self, name: str) -> str:
        """``git source 'NAME' unavailable since HH:MM:SS: ERROR``, '' when available."""
        down = self.unavailable(name)
        if down is None:
            return ""
        since = time.strftime("%H:%M:%S", time.localtime(self._entries[name].down_since))
        return f"git source '{name}' unavailable since {since}: {down.message}"

    def retry_at(self, name: str) -> float:
        """When the next fetch of an unavailable source is due (0 when available)."""
        return self._entries[name].retry_at

    def attempt(self, name: str) -> int:
        """Consecutive failed fetches of the source (0 when available)."""
        return self._entries[name].attempt

    def down_since(self, name: str) -> float:
        """When the source became unavailable (meaningful while it is)."""
        return self._entries[name].down_since

    def fetches(self, name: str) -> int:
        """How many fetches of the source were started since the agent began."""
        return self._entries[name].fetches

    def checkout(self, name: str, revision: str) -> Source:
        """A specific revision (a pin, a rollback target)."""
        with self._lock:
            return self._entries[name].git.checkout(revision)

    def changed_paths(self, name: str, old: str, new: str) -> list[str]:
        """Files that differ between two revisions (empty when unknown)."""
        try:
            with self._lock:
                return self._entries[name].git.changed_paths(old, new)
        except (SourceError, ValueError, OSError):
            return []

    def describe(self, name: str, revision: str) -> str:
        """``a1b2c3d subject`` for messages; the short sha when git cannot say."""
        try:
            with self._lock:
                return self._entries[name].git.describe(revision)
        except (SourceError, ValueError, OSError):
            return revision[:7]


def _spec(cfg: SourceConfig) -> SourceSpec:
    return SourceSpec(url=cfg.url, ref=cfg.ref, path=cfg.path,
                      credentials_file=cfg.credentials_file, name=cfg.name)
