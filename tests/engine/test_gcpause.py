"""``gc_paused`` and ``one_shot``: the collector off while a block builds, and in a
one-shot command (the CLI's plan, apply, destroy) the block's objects frozen rather
than scanned by the collections after it, and what it lets ``outlive`` it kept until
the process ends. A long-running process never freezes and keeps nothing."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from driftless.model.gcpause import gc_paused, one_shot, one_shot_ran, outlive


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.enable()


def _build() -> list[list[int]]:
    return [[i] for i in range(5000)]  # lists: objects the collector tracks


def test_paused_blocks_nest_and_restore_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it off
    assert gc.isenabled()
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()  # a caller that had it off keeps it off


def test_a_long_running_process_never_freezes() -> None:
    with gc_paused():
        kept = _build()
    assert gc.get_freeze_count() == 0 and len(kept) == 5000


def test_a_one_shot_command_freezes_what_each_block_built() -> None:
    with one_shot():
        after_start = gc.get_freeze_count()
        assert after_start > 0  # what was alive when it started (imports, mostly)
        with gc_paused():
            kept = _build()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= after_start + len(kept)  # not left to be scanned
    with gc_paused():
        more = _build()
    assert gc.get_freeze_count() < after_start + len(kept) + len(more)  # stopped at its end


class _Big:
    """An object a weak reference can watch."""


def test_a_one_shot_command_keeps_what_outlives_it_until_the_next_one() -> None:
    elsewhere = _Big()
    watched = weakref.ref(elsewhere)
    outlive(elsewhere)  # outside a one-shot command: a no-op
    del elsewhere
    assert watched() is None
    with one_shot():
        kept = _Big()
        kept_ref = weakref.ref(kept)
        outlive(kept)
        del kept
    assert kept_ref() is not None and one_shot_ran()  # goes with the process
    with one_shot():  # a caller running commands in turn keeps one's at most
        pass
    assert kept_ref() is None
