"""State backends: SQLite (default), S3, ... chosen by URL."""

from driftless.state.base import Journal, JournalEntry, StateBackend
from driftless.state.lease import hold_lock, hold_locks
from driftless.state.sqlite import SQLiteBackend
from driftless.state.url import open_backend, register_scheme

__all__ = [
    "Journal",
    "JournalEntry",
    "SQLiteBackend",
    "StateBackend",
    "hold_lock",
    "hold_locks",
    "open_backend",
    "register_scheme",
]
