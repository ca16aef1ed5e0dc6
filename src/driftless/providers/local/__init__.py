"""The local host provider: files, commands, templates, checkouts, services.

It is driftless's embedded default target. Each kind lives in its own module
exposing ``HANDLERS``; this module only says which module holds which kind,
so that a run imports only the kinds it uses (``download`` pulls in an HTTP
client, ``template`` the Jinja2 sandbox, ``service`` the supervisor).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, Resource, ResourceId
from driftless.providers.base import secure_live
from driftless.providers.registry import LazyKindProvider

if TYPE_CHECKING:
    from driftless.model.helper_client import HelperProcess
    from driftless.providers.local.files import FileWrite
    from driftless.providers.local.offload import WrittenStat

__all__ = ["LocalProvider"]

KIND_MODULES = {
    "file": "files",
    "directory": "files",
    "symlink": "files",
    "command": "command",
    "template": "template",
    "env_file": "env_file",
    "git_checkout": "git_checkout",
    "download": "download",
    "marker_wait": "marker",
    "service": "service",
    "systemd_unit": "systemd",
    "container": "container",
}
"""kind -> the module of this package whose ``HANDLERS`` define it (a test
checks it against every module's ``HANDLERS``)."""


class LocalProvider(LazyKindProvider):
    """Resources on this machine, run as the user driftless runs as."""

    name: ClassVar[str] = "local"

    def __init__(self) -> None:
        super().__init__(__name__, KIND_MODULES)
        self._writer: HelperProcess | None = None  # started ahead (``prepare_many``)
        self._known: dict[str, Any] = {}  # kind -> handler (``_handler_of``)

    def prepare_many(self, changes: Sequence[Change]) -> None:
        """Before the runner journals a batch's intents: start the writer process its
        writes will need (``local.offload.start_writer``), so its start-up overlaps
        the journaling. It writes nothing until ``apply_many`` hands it the writes."""
        if self._writer is None:
            from driftless.providers.local.offload import start_writer

            self._writer = start_writer(self._wanted(changes))

    def apply_many(self, changes: Sequence[Change], *,
                   journaled: Callable[[int], None] = lambda index: None,
                   ) -> Generator[tuple[int, LiveResource | Exception | None], None, None]:
        """``apply`` of each change, in order, as ``(index, live view or exception)``;
        the writes of a large batch go to a writer process meanwhile
        (``local.offload``: same bytes, same views, same errors). ``journaled(i)`` is
        called before the ``i``-th change is carried out or handed to the writer (the
        runner journals its intent then)."""
        from driftless.providers.local.offload import WRITER_MIN, pipelined

        wanted, writer = self._wanted(changes), None
        if wanted >= WRITER_MIN:  # the batch the writer was started for
            writer, self._writer = self._writer, None
        return pipelined(self, changes, wanted, writer=writer, journaled=journaled)

    def absent_among(self, resources: Sequence[Resource]) -> set[ResourceId]:
        """The planner's optional hook, before it reads ``resources``: those it may take
        as not there without reading, found by one look at each distinct parent
        directory (``local.absent``)."""
        from driftless.providers.local.absent import absent
        from driftless.providers.local.files import NOTHING_WHEN_MISSING

        return absent(resources, self._read_of, NOTHING_WHEN_MISSING)

    def _read_of(self, rid: ResourceId) -> Any:
        """The ``read`` function of the kind of ``rid`` (None for an unknown kind)."""
        try:
            return type(self.handler(rid)).read
        except ProviderError:
            return None

    def _wanted(self, changes: Sequence[Change]) -> int:
        """How many of ``changes`` may be plain writes the writer process can do,
        counted up to ``WRITER_MIN`` only: all its callers ask is whether there are
        that many, and a 10,000-file batch need not be walked twice to tell."""
        from driftless.providers.local.offload import WRITER_MIN, counts_as_write

        kinds: dict[str, bool] = {}  # whether each kind hands out writes: asked once
        wanted = 0
        for c in changes:
            if counts_as_write(c):
                offloads = kinds.get(c.id.kind)
                if offloads is None:
                    offloads = kinds[c.id.kind] = self._offloads(c)
                wanted += offloads
                if wanted >= WRITER_MIN:
                    break
        return wanted

    def close(self) -> None:
        """End a writer started ahead and never used (its apply did not happen)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        super().close()

    def _offloads(self, change: Change) -> bool:
        """Whether the change's kind hands out its writes (an unknown kind does not:
        its ``apply`` reports it, change by change)."""
        try:
            return bool(getattr(self.handler(change.id), "offloads", False))
        except ProviderError:
            return False

    def offload(self, change: Change) -> FileWrite | None:
        """The kind's write for the writer process, if the change is only that."""
        found = getattr(self._handler_of(change.id), "offload", None)
        return found(change) if found is not None else None

    def landed_many(self, items: Sequence[tuple[Change, FileWrite, WrittenStat, str | None]],
                    ) -> list[LiveResource | Exception | None]:
        """The live view of each offloaded write of a writer's batch, in order (an
        exception in place of a view that could not be made): each run of one kind
        through its handler's ``landed_many`` (every kind that hands out writes has
        it), each view secured as ``apply`` secures it."""
        out: list[LiveResource | Exception | None] = []
        at = 0
        while at < len(items):
            kind = items[at][0].id.kind
            end = at + 1
            while end < len(items) and items[end][0].id.kind == kind:
                end += 1
            run, at = items[at:end], end
            handler: Any = self._handler_of(run[0][0].id)
            out += [_secured(handler.spec, item[0], view)
                    for item, view in zip(run, handler.landed_many(run), strict=True)]
        return out

    def _handler_of(self, rid: ResourceId) -> Any:
        """``handler(rid)``, kept by kind: ``offload`` asks once per file of a large
        apply, which then looks its kind up in a plain dict."""
        handler = self._known.get(rid.kind)
        if handler is None:
            handler = self._known[rid.kind] = self.handler(rid)
        return handler

    def make_parent(self, change: Change, write: FileWrite) -> None:
        """The directory of an offloaded write (see ``ContentFileHandler.make_parent``)."""
        handler: Any = self.handler(change.id)
        handler.make_parent(change, write)


def _secured(spec: Any, change: Change, view: LiveResource | Exception,
             ) -> LiveResource | Exception | None:
    """``secure_live`` of a landed view (``landed`` secures its own); a failure stays
    with its change."""
    if isinstance(view, Exception):
        return view
    try:
        return secure_live(spec, change.desired, view)
    except Exception as exc:
        return exc
