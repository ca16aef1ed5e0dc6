"""The keyless half of state encryption: refusing encrypted state when no key is set.

Most runs configure no state key; they still must refuse encrypted state (an
error naming the key it needs) rather than read it as garbage. That check
needs only the shape of a stored document, so it lives here, apart from
``crypto`` and ``encrypted``, which import cryptography and age (tens of
milliseconds): those load only when a key is configured or encrypted state is
found.

I/O: only through the backend it guards.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from driftless.errors import StateError
from driftless.model import LockInfo, StateSnapshot
from driftless.state.base import Journal, JournalEntry, StateBackend, no_history

__all__ = ["DEK", "DEKS", "ENC", "StateKeyError", "check_keys", "guard_clear", "is_sealed",
           "keys_in_env"]

ENC, DEKS, DEK = "$enc", "$deks", "$dek"
KEY_ENV = "DRIFTLESS_STATE_KEY"
FALLBACK_ENV = "DRIFTLESS_STATE_FALLBACK_KEY"


class StateKeyError(StateError):
    """Encrypted state that the configured keys cannot open (or no key at all)."""


def keys_in_env(environ: Mapping[str, str]) -> bool:
    """Whether the environment sets any state key setting (``crypto.keys_from_env``
    reads and checks them; with none set it gives no keys)."""
    return any(environ.get(name) for base in (KEY_ENV, FALLBACK_ENV)
               for name in (base, f"{base}_FILE"))


def is_sealed(doc: Mapping[str, Any] | None) -> bool:
    """Whether a stored document is a sealed blob rather than clear JSON."""
    return doc is not None and isinstance(doc.get(ENC), str)


class _SealGuard:
    """Mixed into a backend's own class when no key is configured: clear state
    passes untouched, encrypted state is refused instead of read as garbage.

    Only the outputs and journal documents are checked: every encrypted write
    seals the outputs, so a stack with sealed rows always has sealed outputs.
    """

    _seal_checked: set[str]

    def read(self, stack: str) -> StateSnapshot:
        """The snapshot, unless it is encrypted."""
        snap: StateSnapshot = super().read(stack)  # type: ignore[misc]
        if is_sealed(snap.outputs):
            raise _no_key(stack, "its state", sorted(dict(snap.outputs.get(DEKS) or {}).values()))
        return snap

    def journal(self, stack: str) -> Journal:
        """The journal, refusing sealed entries."""
        return _GuardedJournal(stack, super().journal(stack))  # type: ignore[misc]

    def snapshot(self, stack: str, serial: int) -> StateSnapshot:
        """A kept snapshot, unless it is encrypted (a backend keeping none says so)."""
        if getattr(super(), "snapshot", None) is None:
            raise no_history(self)
        snap: StateSnapshot = super().snapshot(stack, serial)  # type: ignore[misc]
        if is_sealed(snap.outputs):
            raise _no_key(stack, f"its snapshot of serial {serial}",
                          sorted(dict(snap.outputs.get(DEKS) or {}).values()))
        return snap

    def lock(self, stack: str, info: LockInfo) -> str:
        """Refuse before the lock is written (once per client and stack)."""
        checked = self.__dict__.setdefault("_seal_checked", set())
        if stack not in checked:
            check_keys(self, stack)  # type: ignore[arg-type]
            checked.add(stack)
        return str(super().lock(stack, info))  # type: ignore[misc]


def check_keys(backend: StateBackend, stack: str) -> None:
    """Read the stack and its journal so a missing key fails before the lock is written.

    Only a key error is raised here; any other failure to read is left to the
    lock call and the read after it, which report it as they always did.
    """
    try:
        backend.read(stack)
        backend.journal(stack).entries()
    except StateKeyError:
        raise
    except StateError:
        pass


def _no_key(stack: str, what: str, wrapped: list[str]) -> StateKeyError:
    kids = ", ".join(sorted({w.partition("|")[0] for w in wrapped})) or "an unknown key"
    return StateKeyError(
        f"stack '{stack}': {what} is encrypted with key {kids}, but neither "
        "DRIFTLESS_STATE_KEY nor DRIFTLESS_STATE_FALLBACK_KEY is set; nothing was written",
        hint="set DRIFTLESS_STATE_KEY (or DRIFTLESS_STATE_KEY_FILE) to that key: an age "
             "identity AGE-SECRET-KEY-1… or passphrase:<phrase>; see "
             "docs/operations/state-encryption.md",
    )


class _GuardedJournal:
    """A journal that refuses sealed entries when no key is configured."""

    def __init__(self, stack: str, inner: Journal) -> None:
        self.stack = stack
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # begin/finish/clear and the batched forms

    def begin(self, address: str, action: str, intent: Mapping[str, Any]) -> int:
        """Unchanged: clear state stays clear."""
        return self.inner.begin(address, action, intent)

    def finish(self, seq: int, *, ok: bool, live: Mapping[str, Any] | None) -> None:
        """Unchanged."""
        self.inner.finish(seq, ok=ok, live=live)

    def clear(self, upto: int) -> None:
        """Unchanged."""
        self.inner.clear(upto)

    def entries(self) -> list[JournalEntry]:
        """Every entry, unless one is sealed."""
        entries = self.inner.entries()
        sealed = [e for e in entries if is_sealed(e.intent) or is_sealed(e.live)]
        if sealed:
            raise _no_key(self.stack, f"journal entry {sealed[0].seq} ({sealed[0].address})",
                          [str(e.intent.get(DEK, "")) for e in sealed])
        return entries


@cache
def _guarded_class(cls: type) -> type:
    """``cls`` with ``_SealGuard`` in front, made once per backend class."""
    return type(cls.__name__, (_SealGuard, cls), {"__doc__": cls.__doc__,
                                                   "__module__": cls.__module__})


def guard_clear(backend: StateBackend) -> StateBackend:
    """Make ``backend`` refuse encrypted state, keeping its type (a subclass of it).

    Without a key the backend is not wrapped, so callers still see the
    backend they asked for (``isinstance`` checks, its ``path`` or bucket);
    a class that refuses the swap is wrapped in a keyless ``EncryptedBackend``.
    """
    try:
        backend.__class__ = _guarded_class(type(backend))
    except TypeError:
        from driftless.state.crypto import StateKeys
        from driftless.state.encrypted import EncryptedBackend

        return EncryptedBackend(backend, StateKeys())
    return backend
