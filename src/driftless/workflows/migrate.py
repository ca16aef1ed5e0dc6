"""Move stacks' state from one backend to another (``driftless state migrate``).

Each stack is copied while both its locks are held, keeping its lineage, so
the copy is the same state and not a look-alike. Copying is idempotent (a
destination that already holds the same content is left alone) and refuses
to overwrite a different lineage or a newer serial. A stack whose journal
still holds entries (an interrupted apply) is refused: its state is not
complete until a plan folds them in. I/O only through the backends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol, runtime_checkable

from driftless.errors import StateConflict, StateError
from driftless.model import StateSnapshot
from driftless.records import record
from driftless.state import StateBackend, hold_lock

__all__ = ["Importer", "MigrationStep", "migrate_state", "plan_migration"]


@runtime_checkable
class Importer(Protocol):
    """A backend that can store a snapshot with its own serial (S3 and PostgreSQL can)."""

    def import_snapshot(self, stack: str, snap: StateSnapshot) -> None: ...


@record
class MigrationStep:
    """What migrating one stack does: ``copy``, ``same`` or ``empty`` (nothing to copy)."""

    stack: str
    action: str
    serial: int


def _content(snap: StateSnapshot) -> dict[str, object]:
    doc = snap.to_json()
    doc.pop("serial")
    return doc


def _decide(stack: str, src: StateSnapshot, dst: StateSnapshot, where: str) -> str:
    if src.serial == 0:
        return "empty"
    if dst.serial == 0:
        return "copy"
    if dst.lineage != src.lineage:
        raise StateConflict(
            f"{where} already holds a different state of stack '{stack}' "
            f"(lineage {dst.lineage[:8]}, the source has {src.lineage[:8]}); nothing was copied",
            hint="migrate into an empty location, or remove the stack's state there first",
        )
    if _content(dst) == _content(src):
        return "same"
    if dst.serial > src.serial:
        raise StateConflict(
            f"{where} holds a newer state of stack '{stack}' (serial {dst.serial} > "
            f"{src.serial}); nothing was copied",
            hint="the destination was applied to after an earlier migration; use it as is",
        )
    return "copy"


def _check_journal(backend: StateBackend, stack: str) -> None:
    pending = backend.journal(stack).entries()
    if pending:
        raise StateError(
            f"stack '{stack}' has {len(pending)} journal entries from an interrupted "
            f"apply (first: {pending[0].address}); nothing was copied",
            hint=f"run `driftless plan` on stack '{stack}' first so they are folded into state",
        )


def _store(dst: StateBackend, stack: str, src: StateSnapshot, current: StateSnapshot) -> None:
    if isinstance(dst, Importer):
        dst.import_snapshot(stack, src)
    else:
        # The protocol only allows serial + 1; the lineage (what matters) is kept.
        dst.write(stack, replace(src, serial=current.serial + 1))


def _migrate_one(src: StateBackend, dst: StateBackend, stack: str, *, dry_run: bool
                 ) -> MigrationStep:
    with hold_lock(src, stack, operation="migrate"), hold_lock(dst, stack, operation="migrate"):
        snap = src.read(stack)
        current = dst.read(stack)
        action = _decide(stack, snap, current, f"{dst!r}")
        if action == "copy" and not dry_run:
            _check_journal(src, stack)
            _store(dst, stack, snap, current)
        return MigrationStep(stack, action, snap.serial)


def plan_migration(
    src: StateBackend, dst: StateBackend, *, stacks: Iterable[str] | None = None,
    dry_run: bool = False,
) -> list[MigrationStep]:
    """Migrate (or with ``dry_run`` only decide) each stack; one step per stack, in order.

    Stops at the first refusal (``StateConflict`` / ``StateError``); stacks
    before it are already copied, which is safe to repeat.
    """
    names = sorted(set(stacks)) if stacks is not None else src.stacks()
    return [_migrate_one(src, dst, name, dry_run=dry_run) for name in names]


def migrate_state(
    src: StateBackend, dst: StateBackend, *, stacks: Iterable[str] | None = None
) -> list[str]:
    """Copy every (or each named) stack's state into ``dst``; the stacks copied."""
    steps = plan_migration(src, dst, stacks=stacks)
    return [s.stack for s in steps if s.action == "copy"]
