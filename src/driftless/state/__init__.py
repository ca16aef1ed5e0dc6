"""State backends: SQLite (default), S3, ... chosen by URL."""

from driftless.state.base import Journal, JournalEntry, StateBackend
from driftless.state.url import open_backend, register_scheme

__all__ = ["Journal", "JournalEntry", "StateBackend", "open_backend", "register_scheme"]
