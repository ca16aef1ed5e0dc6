"""The agent's view of its Git sources: fetch at most once per wake-up.

I/O: git fetches and checkouts through ``driftless.source.GitSource`` into
``<state-dir>/sources/<name>/``. Several stacks share one source; the loop
bumps a cycle number each time it wakes, and a source is fetched at most
once per cycle, so ten stacks of one repository cost one ``git fetch``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from driftless.agent.config import SourceConfig
from driftless.errors import SourceError
from driftless.source import GitSource, Source, SourceSpec

__all__ = ["SourceCache"]


@dataclass
class _Entry:
    git: GitSource
    latest: Source | None = None
    cycle: int = -1
    error: SourceError | None = None


class SourceCache:
    """Fetched revisions of every configured source."""

    def __init__(self, sources: Mapping[str, SourceConfig], *, cache_root: Path) -> None:
        self.configs = dict(sources)
        self._lock = threading.Lock()
        self._entries = {
            name: _Entry(GitSource(_spec(cfg), cache_dir=cache_root / name))
            for name, cfg in sources.items()
        }

    def latest(self, name: str, *, cycle: int, fresh: bool = True) -> Source:
        """The source's newest revision, fetched once per ``cycle`` when ``fresh``."""
        entry = self._entries[name]
        with self._lock:
            if entry.error is not None and entry.cycle == cycle and fresh:
                raise entry.error
            if entry.latest is not None and (not fresh or entry.cycle == cycle):
                return entry.latest
            entry.cycle = cycle
            try:
                entry.latest = entry.git.fetch()
            except SourceError as exc:
                entry.error = exc
                raise
            entry.error = None
            return entry.latest

    def known(self, name: str) -> Source | None:
        """The last fetched revision without fetching (None before the first fetch)."""
        return self._entries[name].latest

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
