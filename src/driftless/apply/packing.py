"""Outcomes of a large batch journaled with their state rows packed by a helper process.

Encoding a state row (canonical JSON) and deflating it is ~10 us of C that a
thread cannot overlap with the runner's Python work. So in a batch of at least
``runner.PACK_MIN`` changes, each group of ``runner.FINISH_EVERY`` outcomes is
sent to a helper (the ``pack`` job of ``model.helper``, given
``state.packed``'s compressor first, so it makes the very bytes ``pack``
makes) while the runner applies the next group; the group is journaled once
the helper answers, one group later than inline (on a kill, recovery re-reads
those objects, as for any unfinished entry). While the helper is still on the
group before, the next one is packed and journaled inline instead of waiting
(groups may so be journaled out of order: each outcome names its entry). A
group the helper cannot take
(a value that is not plain data) or cannot finish (it ended) is journaled
inline, which reports a value state cannot store exactly as always. I/O: a
helper process and its pipes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from driftless.model.helper_client import HelperGone, HelperProcess
from driftless.state.packed import RowDoc, packer_hello

__all__ = ["PackingJournal"]

Outcomes = Sequence[tuple[int, bool, Mapping[str, Any] | None]]


class PackingJournal:
    """Groups of outcomes, each journaled (``finish``) once the helper packed its rows."""

    def __init__(self, finish: Callable[[Any], None]) -> None:
        self.finish = finish
        self.in_flight: Outcomes | None = None
        self.helper = HelperProcess.start("pack")
        self._send(packer_hello())

    def add(self, outcomes: Outcomes) -> None:
        """Journal ``outcomes`` (now, or once the helper packed their rows). When the
        helper has not answered the group before yet (it shares its core with the
        writer process), this group is packed here instead of waiting for it: the
        runner's core does the work it would otherwise spend idle."""
        if self.in_flight is not None and self.helper is not None \
                and not self.helper.answered():
            self.finish(outcomes)
            return
        docs = [dict(live) if isinstance(live, RowDoc) else None for _, _, live in outcomes]
        if not self._send(docs):
            self.finish(outcomes)
            return
        previous, self.in_flight = self.in_flight, outcomes
        if previous is not None:
            self._finish(previous)

    def close(self) -> None:
        """Journal what the helper still holds, and end it."""
        if self.in_flight is not None:
            previous, self.in_flight = self.in_flight, None
            self._finish(previous)
        if self.helper is not None:
            self.helper.close()
            self.helper = None

    def _send(self, request: Any) -> bool:
        if self.helper is None:
            return False
        try:
            self.helper.send(request)
        except ValueError:  # not plain data: journaled inline, which says what it is
            return False
        except HelperGone:
            self._drop()
            return False
        return True

    def _finish(self, outcomes: Outcomes) -> None:
        packed = None
        if self.helper is not None:
            try:
                packed = self.helper.receive(len(outcomes))
            except HelperGone:
                self._drop()
        for (_, _, live), row in zip(outcomes, packed or (), strict=False):
            if isinstance(live, RowDoc) and isinstance(row, bytes):
                live.packed = row
        self.finish(outcomes)

    def _drop(self) -> None:
        """The helper is gone: every group still in flight is journaled inline."""
        if self.helper is not None:
            self.helper.close()
            self.helper = None
        if self.in_flight is not None:
            previous, self.in_flight = self.in_flight, None
            self.finish(previous)
