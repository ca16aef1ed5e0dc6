"""The driftless side of a helper process (``model.helper``): start it, send it
requests, read its answers, end it.

A helper is started with ``os.posix_spawn`` of this interpreter, isolated
(``-I -S``), so it is safe from a process with threads (the agent, a command
holding a lease) and costs no copy of this one. Its stderr goes to
/dev/null; its stdin and stdout are pipes, the one to it made large enough
that sending a request never waits while a few are in flight. Anything that
goes wrong with it raises ``HelperGone``: its user then does the work itself.
``DRIFTLESS_HELPERS=0`` turns helpers off. A closed helper is reaped once it
has exited, never waited for. I/O: spawns and reaps the helper; its pipes.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from typing import Any

from driftless.model import helper as _program

__all__ = ["DISABLE_ENV", "HelperGone", "HelperProcess"]

DISABLE_ENV = "DRIFTLESS_HELPERS"  # "0" (or off/no/false): no helper, all work inline
_PIPE_BYTES = 1 << 20
_BLOCKED = (2,)
"""Signals a helper starts with blocked: SIGINT (2 on every POSIX system), so a
Ctrl-C at the terminal stops driftless, which closes the helper's input, and the
helper ends the batch it holds instead of dying mid-file. Blocked here rather
than ignored by the helper: importing ``signal`` (with ``enum``) was a third of
its start."""
# All a helper inherits of the environment: what decides how it encodes file names
# (as driftless does, so a path names the same file) and finds its libraries. Never a
# credential or a state key: a helper needs none, and its environment is readable in
# /proc by the user's other processes.
_KEPT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LD_LIBRARY_PATH")


class HelperGone(Exception):
    """The helper process ended, or answered nonsense."""


class HelperProcess:
    """One helper process running ``job``, and the two pipes to it."""

    def __init__(self, pid: int, to_helper: int, from_helper: int) -> None:
        self.pid, self._to, self._from = pid, to_helper, from_helper
        self._closed = False

    @classmethod
    def start(cls, job: str, *args: str) -> HelperProcess | None:
        """A new helper doing ``job``; None when one cannot be started here, or helpers
        are turned off (``DISABLE_ENV``)."""
        if os.environ.get(DISABLE_ENV, "").strip().lower() in ("0", "off", "no", "false"):
            return None
        script = _program.__file__
        if not (script and sys.executable and os.path.exists(script)
                and hasattr(os, "posix_spawn") and not getattr(sys, "frozen", False)):
            return None  # no interpreter to run it with (a frozen app), or no file
        utf8 = ["-X", "utf8"] if sys.flags.utf8_mode else []
        _reap()
        try:
            return cls._spawn([sys.executable, "-I", "-S", *utf8, script, job, *args])
        except OSError:
            return None

    @classmethod
    def _spawn(cls, argv: list[str]) -> HelperProcess:
        down_r, down_w = os.pipe()  # not inheritable: only the dup2-ed 0 and 1 are
        up_r, up_w = os.pipe()
        try:
            with contextlib.suppress(OSError):
                import fcntl

                fcntl.fcntl(down_w, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
            pid = os.posix_spawn(argv[0], argv, _environment(), file_actions=[
                (os.POSIX_SPAWN_DUP2, down_r, 0), (os.POSIX_SPAWN_DUP2, up_w, 1),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)],
                setsigmask=_BLOCKED)
        except BaseException:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            raise
        os.close(down_r)
        os.close(up_w)
        return cls(pid, down_w, up_r)

    def send(self, request: Any) -> None:
        """One request (``marshal``-able: plain values only, else ``ValueError``)."""
        body = marshal.dumps(request)
        head = len(body).to_bytes(4, "big")
        try:
            # the length and the body in one call, not joined first: a batch of file
            # writes is ~1 MB, and a joined copy is as many new pages to touch
            done = os.writev(self._to, (head, body))
            if done < len(head) + len(body):  # a short write (rare): the rest in turn
                view = memoryview(head + body)[done:]
                while view:
                    view = view[os.write(self._to, view):]
        except OSError as exc:
            raise HelperGone(str(exc)) from None

    def answered(self) -> bool:
        """Whether an answer (or the helper's end) can be read now, without waiting."""
        import select  # only a caller deciding whether to wait needs it

        try:
            poller = select.poll()  # not select(): any descriptor number
            poller.register(self._from, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True  # let ``receive`` say what is wrong

    def receive(self, count: int | None = None) -> Any:
        """The answer to the oldest request not yet answered; a list of ``count``
        items when ``count`` is given."""
        try:
            head = self._read(4)
            answer = marshal.loads(self._read(int.from_bytes(head, "big")))
        except (OSError, EOFError, ValueError, TypeError) as exc:
            raise HelperGone(str(exc)) from None
        if count is not None and (not isinstance(answer, list) or len(answer) != count):
            raise HelperGone("an answer that does not match its request")
        return answer

    def _read(self, size: int) -> bytes:
        parts = []
        while size:
            got = os.read(self._from, min(size, 1 << 20))
            if not got:
                raise EOFError("the helper process ended")
            parts.append(got)
            size -= len(got)
        return b"".join(parts)

    def close(self) -> None:
        """End the helper: no more input; it finishes what it holds and exits. It is
        not waited for (its exit is ~4 ms of a run's end): it is reaped here if it is
        gone already, else by a later ``start`` or ``close`` (``_reap``), or by init
        once this process ends."""
        if self._closed:
            return
        self._closed = True
        for fd in (self._to, self._from):
            with contextlib.suppress(OSError):
                os.close(fd)
        _EXITING.add(self.pid)
        _reap()


_EXITING: set[int] = set()
"""Helpers closed and not reaped yet (process-wide, as children are)."""


def _reap() -> None:
    """Reap the closed helpers that have exited, without waiting for the others."""
    for pid in list(_EXITING):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            done = pid  # not ours to wait for (any more)
        if done:
            _EXITING.discard(pid)


def _environment() -> dict[str, str]:
    """The helper's environment (``_KEPT`` of ours)."""
    return {name: os.environ[name] for name in _KEPT if name in os.environ}
