"""Byte progress for big S3 uploads: a rich bar on stderr, only where someone watches.

I/O: draws on the process's stderr when it is a terminal, nothing otherwise.
The decision is taken before any bar exists, so the non-TTY path (CI logs,
pipes, ``--json`` runs with ``DRIFTLESS_QUIET=1``) never builds one. Providers
may use rich, never typer; colour follows rich's own ``NO_COLOR`` handling.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, TextIO

from rich.console import Console
from rich.file_proxy import FileProxy
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = ["BIG_BYTES", "MANY_FILES", "ByteCallback", "ProgressFactory", "UploadBar", "is_big"]

BIG_BYTES = 8 * 1024 * 1024
MANY_FILES = 20

ByteCallback = Callable[[int], None]


class ProgressFactory(Protocol):
    """Opens a progress display for one upload batch; yields a byte callback or None."""

    def __call__(self, total_bytes: int, files: int, *,
                 label: str) -> AbstractContextManager[ByteCallback | None]: ...


def is_big(total_bytes: int, files: int) -> bool:
    """Whether an upload batch lasts long enough to deserve a bar."""
    return total_bytes > BIG_BYTES or files > MANY_FILES


class UploadBar:
    """The default ``ProgressFactory``: one rich bar at a time on a terminal.

    ``stream`` and ``env`` default to the process's stderr and environment;
    tests pass their own to force the terminal path.
    """

    def __init__(self, *, stream: TextIO | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self._stream = stream
        self._env = env
        # Parallel applies share one terminal: a second sync runs without a bar.
        self._drawing = threading.Lock()

    def _target(self) -> TextIO | None:
        """The stream to draw on, or None when nobody is watching."""
        env = os.environ if self._env is None else self._env
        stream = sys.stderr if self._stream is None else self._stream
        if env.get("DRIFTLESS_QUIET") == "1" or isinstance(stream, FileProxy):
            return None  # asked for quiet, or another live display owns the terminal
        isatty = getattr(stream, "isatty", None)
        return stream if isatty is not None and isatty() else None

    @contextmanager
    def __call__(self, total_bytes: int, files: int, *,
                 label: str) -> Iterator[ByteCallback | None]:
        stream = self._target() if is_big(total_bytes, files) else None
        if stream is None or not self._drawing.acquire(blocking=False):
            yield None
            return
        try:
            with _bar(stream, total_bytes, label) as advance:
                yield advance
        finally:
            self._drawing.release()


@contextmanager
def _bar(stream: TextIO, total_bytes: int, label: str) -> Iterator[ByteCallback]:
    console = Console(file=stream, force_terminal=True, highlight=False)
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    # redirect_*=False: we must not swap sys.stdout/sys.stderr under other threads.
    with Progress(*columns, console=console, transient=True, redirect_stdout=False,
                  redirect_stderr=False) as progress:
        task = progress.add_task("upload", total=total_bytes)
        # boto3 calls this from its transfer threads; Progress.advance takes a lock.
        yield lambda n: progress.advance(task, n)
