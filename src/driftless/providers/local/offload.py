"""Many local file writes handed to a writer process, pipelined with the rest.

Writing a file is ~30 us of system calls (create, write, backdate, rename,
stat, close) that hold this process while it could be journaling and packing
the states of the files already written; a thread cannot help (every call
wants the GIL back). So when one apply writes many files
(``WRITER_MIN``), ``pipelined`` starts the writer process (the ``write``
job of ``model.helper``, run with the interpreter's own library only) and
sends it the writes in batches while this process prepares the next ones
and finishes those answered: on two cores, ten thousand writes then cost
little more than the rest of the work. The first batch is small, so the
writer's first file does not wait for a whole batch to be prepared; each next
batch is twice the one before, up to ``_BATCH_FILES``.

What stays the same, change by change:

- the bytes, modes, owners, temp names and atomic rename are those of an
  inline write (``model.helper.write_file`` is the one implementation of both);
- the live view is built here from the stat the writer answers, as after
  an inline write (``ContentFileHandler.landed``);
- anything that is not just a write of bytes known now (a delete, a chmod, a
  source file, a change on another host, a file over ``files.OFFLOAD_MOST``), and
  any write the writer reports failed, is done inline, through the
  provider's own ``apply``: its errors are exactly an inline run's;
- the writer never writes a file whose journal intent is not durable: each
  change is queued only after ``journaled(i)``, with which the runner journals
  its intent (a chunk at a time, while the writer writes the chunk before);
- should the writer go away, every write not yet answered is done inline.

Killed with the apply, the writer finishes the batch it holds and ends when its
input does; its temp files carry its pid, so recovery removes them
(``remove_stray_temps``) once it is gone. ``DRIFTLESS_HELPERS=0`` turns
the writer off. I/O: spawns the writer; the files its handlers ask for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from driftless.model import Action, Change, LiveResource
from driftless.model.helper_client import HelperGone, HelperProcess
from driftless.providers.local._atomic import born_mode, durable_writes, parent_of, temp_path
from driftless.providers.local._fingerprint import RACY_NS
from driftless.providers.local._host import StatFields

if TYPE_CHECKING:
    from driftless.providers.local.files import FileWrite as Offload

__all__ = ["WRITER_MIN", "WrittenStat", "counts_as_write", "pipelined", "start_writer"]

WRITER_MIN = 128  # fewer writes than this are done inline: a process start is ~10 ms
_BATCH_FILES = 256
_BATCH_BYTES = 256 << 10
_FIRST_FILES = 32  # the first batch: the writer starts on it; each next one doubles
_IN_FLIGHT = 3  # batches sent and not yet answered: the writer never waits for us


WrittenStat = StatFields  # the stat of a file the writer wrote


class Offloading(Protocol):
    """The provider side of ``pipelined``."""

    def apply(self, change: Change) -> LiveResource | None: ...
    def offload(self, change: Change) -> Offload | None: ...
    def landed_many(self, items: Sequence[tuple[Change, Offload, WrittenStat, str | None]],
                    ) -> Sequence[Outcome]: ...
    def make_parent(self, change: Change, offload: Offload) -> None: ...


Outcome = LiveResource | None | Exception


def pipelined(provider: Offloading, changes: Sequence[Change], wanted: int, *,
              writer: HelperProcess | None = None,
              journaled: Callable[[int], None] = lambda index: None,
              ) -> Generator[tuple[int, Outcome], None, None]:
    """``provider.apply`` of each change as ``(index, live view or exception)``, in
    order; the writes among them go to a writer process when there are at least
    ``WRITER_MIN`` of them (``wanted``: how many may be): ``writer``, one started
    ahead (``start_writer``), or a new one. ``journaled(i)`` is called before the
    ``i``-th change is carried out or queued for the writer."""
    if writer is None and wanted >= WRITER_MIN:
        writer = _Writer.start()
    if writer is None:
        for i, change in enumerate(changes):
            journaled(i)
            yield i, _inline(provider, change)
        return
    pipe = _Pipeline(provider, writer)
    try:
        for i, change in enumerate(changes):
            journaled(i)
            pipe.add(i, change)
            if pipe.slots[0].outcome is not _PENDING:  # (most of the time one is pending)
                yield from pipe.ready()
        pipe.drain()
        yield from pipe.ready()
    finally:
        writer.close()


def _inline(provider: Offloading, change: Change) -> Outcome:
    try:
        return provider.apply(change)
    except Exception as exc:  # the runner turns it into the change's failed result
        return exc


_PENDING: Any = object()


class _Slot:
    """One change on its way: its outcome once known."""

    __slots__ = ("change", "index", "offload", "outcome")

    def __init__(self, index: int, change: Change, offload: Offload | None,
                 outcome: Outcome) -> None:
        self.index, self.change, self.offload, self.outcome = index, change, offload, outcome


class _Pipeline:
    """Changes in order; their writes in batches, at most ``_IN_FLIGHT`` unanswered."""

    def __init__(self, provider: Offloading, writer: HelperProcess) -> None:
        self.provider = provider
        self.writer: HelperProcess | None = writer
        self.slots: deque[_Slot] = deque()
        self.batch: list[_Slot] = []
        self.batch_bytes = 0
        self.batch_files = min(_FIRST_FILES, _BATCH_FILES)  # this batch is sent at
        self.in_flight: deque[list[_Slot]] = deque()
        self.parents: set[str] = set()  # directories known to be there

    def add(self, index: int, change: Change) -> None:
        """Take the next change: queue its write, or carry it out now."""
        try:
            offload = self.provider.offload(change) if self.writer is not None else None
            if offload is not None:
                self._parent(change, offload)
        except Exception as exc:  # a bad property, a parent refused: the change fails
            self.slots.append(_Slot(index, change, None, exc))
            return
        if offload is None:
            self.slots.append(_Slot(index, change, None, _inline(self.provider, change)))
            return
        slot = _Slot(index, change, offload, _PENDING)
        self.slots.append(slot)
        self.batch.append(slot)
        self.batch_bytes += len(offload.data)
        if len(self.batch) >= self.batch_files or self.batch_bytes >= _BATCH_BYTES:
            self._send()

    def _parent(self, change: Change, offload: Offload) -> None:
        """The file's directory made (or refused) once, as an inline write makes it
        after its first attempt fails."""
        parent = parent_of(offload.path)
        if parent not in self.parents:
            self.provider.make_parent(change, offload)
            self.parents.add(parent)

    def ready(self) -> Iterator[tuple[int, Outcome]]:
        """The outcomes known, in order, up to the first still pending."""
        while self.slots and self.slots[0].outcome is not _PENDING:
            slot = self.slots.popleft()
            yield slot.index, slot.outcome

    def drain(self) -> None:
        """Send what is left and wait for every answer."""
        if self.batch:
            self._send()
        while self.in_flight:
            self._receive()

    def _send(self) -> None:
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        self.batch_files = min(2 * self.batch_files, _BATCH_FILES)
        if len(self.in_flight) >= _IN_FLIGHT:
            self._receive()
        if self.writer is None:  # gone while the batch was made
            self._inline(batch)
            return
        try:
            self.writer.send([_task(s.offload, self.writer.pid) for s in batch])
        except HelperGone:
            self._lost(batch)
            return
        self.in_flight.append(batch)

    def _receive(self) -> None:
        batch = self.in_flight.popleft()
        try:
            answers = self.writer.receive(len(batch)) if self.writer is not None else None
        except HelperGone:
            answers = None
        if answers is None:
            self._lost(batch)
            return
        pairs = list(zip(batch, answers, strict=True))
        written = [(slot, value) for slot, (ok, value) in pairs if ok]
        if written:  # each view (or the exception making it raised) in order
            views = self.provider.landed_many([_written(slot, value) for slot, value in written])
            for (slot, _), view in zip(written, views, strict=True):
                slot.outcome = view
        for slot, (ok, _) in pairs:
            if not ok:  # the writer could not: done again here, with an inline error
                slot.outcome = _inline(self.provider, slot.change)

    def _lost(self, batch: list[_Slot]) -> None:
        """The writer is gone: this batch, and every one still in flight, inline."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self._inline(batch)
        while self.in_flight:
            self._inline(self.in_flight.popleft())

    def _inline(self, batch: list[_Slot]) -> None:
        for slot in batch:
            slot.outcome = _inline(self.provider, slot.change)


def _written(slot: _Slot, value: Any) -> tuple[Change, Offload, WrittenStat, str | None]:
    """What ``landed_many`` takes for a write the writer answered: the stat, then the
    sha256 of the bytes (None when the content is secret: its digest is keyed)."""
    assert slot.offload is not None  # a batch holds offloaded writes only
    return slot.change, slot.offload, WrittenStat(*value[:7]), value[7]


def _task(offload: Offload | None, pid: int) -> tuple[Any, ...]:
    """What the writer writes for ``offload`` (``write`` job of ``model.helper``), under
    a temp name carrying the writer's pid, as ``_atomic.remove_stray_temps`` expects;
    and whether it hashes the bytes too (never a secret's: its digest is keyed)."""
    assert offload is not None  # a batch holds offloaded writes only
    born = born_mode(offload.mode)
    return (offload.path, temp_path(offload.path, pid, 0), offload.data, born,
            None if born == offload.mode else offload.mode, offload.owner, offload.plain)


class _Writer:
    """The writer: a helper process doing the ``write`` job (``model.helper``)."""

    @staticmethod
    def start() -> HelperProcess | None:
        """A new writer; None when one cannot be started (every write is inline)."""
        return HelperProcess.start("write", str(RACY_NS), "1" if durable_writes() else "0")


def start_writer(wanted: int) -> HelperProcess | None:
    """A writer started ahead for ``wanted`` writes (None for fewer than ``WRITER_MIN``):
    its ~15 ms start-up then passes while the runner journals the intents, instead of
    holding the first writes."""
    return _Writer.start() if wanted >= WRITER_MIN else None


def counts_as_write(change: Change) -> bool:
    """Whether ``change`` may be a plain write (a create or an update)."""
    return change.action in (Action.CREATE, Action.UPDATE)
