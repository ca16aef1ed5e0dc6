"""State backends: SQLite (default), S3, PostgreSQL, ... chosen by URL.

``open_backend`` wraps every backend in ``EncryptedBackend`` with the
operator's keys from the environment (``DRIFTLESS_STATE_KEY`` …), so new
writes are encrypted; with no key the backend itself is returned, guarded so
that it refuses encrypted state with an error naming the key it needs.
"""

import os
from pathlib import Path

from driftless.state.base import Journal, JournalEntry, StateBackend
from driftless.state.lease import hold_lock, hold_locks
from driftless.state.seal_guard import guard_clear, keys_in_env
from driftless.state.sqlite import SQLiteBackend
from driftless.state.url import open_backend as open_plain_backend
from driftless.state.url import register_scheme

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


def open_backend(url: str, *, root: Path) -> StateBackend:
    """The backend for ``url``, sealed with the operator's state keys.

    Keys are read here, where the operator's environment meets state, and
    never from the repository; a bad key setting fails before state is opened.
    """
    if not keys_in_env(os.environ):  # no key: crypto (cryptography, age) is not imported
        return guard_clear(open_plain_backend(url, root=root))
    from driftless.state.crypto import keys_from_env
    from driftless.state.encrypted import EncryptedBackend

    keys = keys_from_env()
    backend = open_plain_backend(url, root=root)
    return EncryptedBackend(backend, keys) if keys.configured() else guard_clear(backend)


def _postgres(url: str, root: Path) -> StateBackend:
    """``postgres://`` / ``postgresql://``: psycopg is imported only when one is opened."""
    from driftless.state.postgres import from_url

    return from_url(url, root)


register_scheme("postgres", _postgres)
register_scheme("postgresql", _postgres)
