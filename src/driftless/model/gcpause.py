"""``gc_paused``: the cyclic garbage collector off while many objects are built.

Loading a large stack or state builds ~100,000 small acyclic objects; every
700 allocations the collector scans its youngest generation, and the older
ones ever more often, so the scans cost up to ~40% of a 10,000-resource
no-op plan (measured). Reference counting still frees everything acyclic,
and the collector resumes (and catches up) when the block ends.

A one-shot command (the CLI's plan, apply or destroy: ``one_shot``) keeps
what such a block built until it exits, so there the block's objects are
frozen when it ends (``gc.freeze``: moved where the collector never scans
them) instead of being scanned by the next collection, and again by the one
after: ~5 ms after each large block of a 10,000-resource run, ~25 ms in all.
A long-running process (the agent) never freezes: a cycle frozen would never
be freed. Process-wide state, by nature of the collector.

For the same reason a one-shot command lets its largest structures (the plan,
the rendered stack, state's cached rows) ``outlive`` the code that made them:
freeing ~100,000 objects one by one at the end of a 10,000-resource apply
took ~20 ms of a quiet machine's ~650 (measured: the time from the last
printed line to the exit fell from ~80 ms to ~28 on a machine 3x slower).
The ``driftless`` executable then ends the process without the interpreter's
teardown (``driftless.cli.script``), which is what makes the kept objects
free: the kernel takes the whole heap back at once.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

__all__ = ["gc_paused", "one_shot", "one_shot_ran", "outlive"]


class _Mode:
    """Whether this process is a one-shot command (``one_shot``), whether one
    ran, and what it keeps until the process ends (``outlive``)."""

    one_shot = False
    ran = False
    kept: ClassVar[list[object]] = []


@contextmanager
def one_shot() -> Iterator[None]:
    """Run the block as a one-shot command, which exits when it is done: what is
    alive now, and what each paused block builds, is frozen rather than scanned.
    Its end only stops the freezing (a caller that goes on, such as a test, keeps
    what was frozen: acyclic garbage is still freed by reference counting)."""
    _Mode.one_shot = True
    _Mode.ran = True
    _Mode.kept.clear()  # a caller running commands in turn (a test) keeps one's at most
    gc.freeze()
    try:
        yield
    finally:
        _Mode.one_shot = False


def outlive(*objects: object) -> None:
    """In a one-shot command, keep ``objects`` alive until the process ends, so
    they are not freed piece by piece when the code that made them is done
    (elsewhere, a no-op: a long-running process frees as it goes)."""
    if _Mode.one_shot:
        _Mode.kept.extend(objects)


def one_shot_ran() -> bool:
    """Whether a one-shot command ran in this process: what is left of it is
    needed by nothing after it, and may go with the process."""
    return _Mode.ran


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (nesting is fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if _Mode.one_shot:
                gc.freeze()  # kept until exit: never worth a scan
            gc.enable()
