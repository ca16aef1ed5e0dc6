"""Cache writes done by a forked child, beside the command instead of in its way.

Encoding, sealing and writing a render cache entry of a 10,000-file stack
costs the command ~45 ms that nothing in it waits for: the entry is read by
the *next* command. ``run_detached`` hands such a write to a child made by
``os.fork`` (the child already holds every object the write needs, without
copying or pickling), so it runs on another core while the command plans and
applies. Only pure caches use it: whoever reads the file checks it against
a key or seal, so a write that is late, fails or never happens costs a miss,
never a wrong answer.

``aside`` forks a child for output instead of a cache: a large plan applied
without a question is printed by a child (keeping stdout and stderr) while the
apply starts, and the command waits for it before it prints anything else.

``run_detached_answering`` is the same with one value handed back first: the
child works out ``answer()`` (the render's digest, ~25 ms) and writes it to a
pipe before its write, while the command goes on (takes its lock, reads
state) and reads it when it needs it (``Answer.get``). The child is a copy of
the command at the fork, so it works out the very value the command would;
an answer that does not come, or does not have the expected shape, is worked
out by the command itself.

When it forks, and when it runs the write inline as before:

- inside ``detaching()``, which the CLI's ``main`` wraps a command in: the one
  owner of the process that is sure to wait for its children before it ends.
  Anything else using driftless as a library (the agent, tests, scripts)
  writes inline, and may read the files the moment a call returns;
- ``os.fork`` exists and ``DRIFTLESS_BACKGROUND`` is not ``0``/``off``/``no``/
  ``false`` (the switch to turn it off);
- the process has one thread, by ``threading`` and, where ``/proc`` exists,
  by the kernel (a thread started through ``_thread`` or a C library is not
  in ``threading``'s count), apart from sleepers of ours (``add_sleeper``:
  the lease renewer). A thread holding a lock at the fork (logging's,
  SQLite's, OpenSSL's) leaves it held forever in the child, so the agent (its
  API server) writes inline. A sleeper does its short pieces of work (a
  renewal every 20 s) holding its ``busy`` lock, and a fork holds that lock
  through the fork, or does not fork when the sleeper is at work: the child
  is made while the sleeper sleeps, holding nothing the child could need;
- this process is not itself a forked child (of ours or anyone's).

The child turns the cyclic collector off (a collection would write to every
object's header and copy the parent's pages for nothing), lets go of every
inherited descriptor (stdio become /dev/null, the rest are closed), runs the
write, swallows any exception (a cache write never fails a command) and
leaves through ``os._exit``: no atexit handlers, no finalizers, no flush of
the parent's stdio buffers, which the parent flushes before forking so
nothing is written twice.

Why the child cannot disturb the parent: it never uses the parent's open
SQLite connection, and closing its copies of the descriptors does not touch
the parent's locks. SQLite's are POSIX ``fcntl`` locks, owned per process:
the child holds none and releases none. A ``flock`` lock (the git source's
fetch lock) belongs to the open file description the child shares, so a
child keeping the descriptor would keep such a lock alive after the parent
closed it; the child closes it at once. Likewise a pipe the command's output
goes to sees its end when the command ends, not when a late child does. Its
writes are whole-file temp file + rename (``filemap.write_private``, the temp
name carrying the child's pid), so a child or parent killed half-way leaves
at worst the old entry or none, never a torn one.

Waiting: ``wait`` reaps the children writing the given keys (the files they
write), which a reader calls before it reads one, so a process sees its own
writes, and ``run_detached`` calls before forking another writer of the same
key, so writes of one file land in the order they were made. ``wait_all``,
called when ``detaching()`` ends (a CLI command, however it ends), reaps every
child so the next command finds the cache written and no child outlives it.
Both wait at most ``WAIT_MOST`` seconds; a child still running after that is
left to finish its (atomic) write alone and reaped later or by init.

The children of this process are process-wide by nature, hence the one
module-level registry. I/O: forks; the child does whatever its write does.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

__all__ = ["ANSWER_ROOM", "DISABLE_ENV", "SHOWN_MOST", "WAIT_MOST", "Answer", "add_sleeper",
           "aside", "can_fork", "detaching", "drop_sleeper", "run_detached",
           "run_detached_answering", "wait", "wait_all"]

DISABLE_ENV = "DRIFTLESS_BACKGROUND"  # "0" (or off/no/false): every write inline
ANSWER_ROOM = 1 << 20  # bytes asked of an answer's pipe (Linux's default most for a user)
WAIT_MOST = 5.0  # seconds a wait gives the children; a write takes ~50 ms


class _Child(NamedTuple):
    """A child still to reap (plain classes here: this module loads with every command,
    and a dataclass costs ~0.3 ms to define)."""

    keys: frozenset[str]
    pidfd: int | None  # readable once the child ended (Linux); None: poll waitpid


class _Registry:
    """This process's children, and whether it may fork (and which threads of ours
    sleep through a fork: ``add_sleeper``)."""

    __slots__ = ("children", "detaching", "forked", "sleepers")

    def __init__(self, children: dict[int, _Child]) -> None:
        self.children = children
        self.forked = False  # this process is a forked child: it never forks again
        self.detaching = 0  # how many ``detaching()`` blocks are open
        self.sleepers: dict[threading.Thread, threading.Lock] = {}


_REGISTRY = _Registry({})


def _after_fork_in_child() -> None:
    """Any fork's child (ours, multiprocessing's): its parent's children are not
    its own, and it writes inline."""
    _REGISTRY.children.clear()
    _REGISTRY.sleepers.clear()
    _REGISTRY.forked = True


def add_sleeper(thread: threading.Thread, busy: threading.Lock) -> None:
    """From now until ``drop_sleeper``, ``thread`` does not keep this process from
    forking: it is a thread of ours that sleeps between short pieces of work, each
    done holding ``busy`` (the lease renewer: a renewal every 20 s). A fork happens
    only while ``busy`` is free, and holds it meanwhile, so the thread is asleep at
    the fork, holding no lock but its own (the child has no such thread, and never
    touches what it uses)."""
    _REGISTRY.sleepers[thread] = busy


def drop_sleeper(thread: threading.Thread) -> None:
    """``thread`` counts as any other thread again (see ``add_sleeper``)."""
    _REGISTRY.sleepers.pop(thread, None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def detaching() -> Iterator[None]:
    """Let ``run_detached`` fork within the block; at its end, however it ends, reap
    every child (``wait_all``). A Ctrl-C during that last wait ends the wait only:
    the block's own outcome (an exit code, an error) is what the caller sees."""
    _REGISTRY.detaching += 1
    try:
        yield
    finally:
        _REGISTRY.detaching -= 1
        with contextlib.suppress(KeyboardInterrupt):
            wait_all()


def run_detached(write: Callable[[], bool], *, keys: Iterable[str]) -> bool:
    """Run ``write`` (True when it wrote) in a forked child when ``can_fork``, else
    inline; ``keys`` name the files it writes. Inline: ``write``'s own result and
    exceptions, exactly as a direct call. Forked: True, the write taken as done
    (a cache: a write that fails later only costs a miss)."""
    if _forked(write, frozenset(keys)):
        return True
    return write()


def _forked(write: Callable[[], bool], names: frozenset[str], *,
            answer: tuple[Callable[[], bytes | Iterable[bytes]], int] | None = None) -> bool:
    """Fork a child running ``write`` (and handing back ``answer`` first), once the
    writes of the same keys are done; False when no child was made (it cannot fork
    here, or the fork failed: no memory or process slot), and nothing ran."""
    wait(names)  # writes of one file land in the order they were made
    pid = _fork()
    if pid is None:
        return False
    if pid == 0:
        _child(write, answer=answer)  # never returns
    _REGISTRY.children[pid] = _Child(names, _pidfd(pid))
    return True


def _fork() -> int | None:
    """``os.fork`` (0 in the child) once ``can_fork``, with every sleeping thread
    (``add_sleeper``) held asleep through it; None when no child was made: it cannot
    fork here, a sleeper is at work, or the fork failed (no memory or process slot)."""
    if not can_fork():
        return None
    held: list[threading.Lock] = []
    try:
        for busy in list(_REGISTRY.sleepers.values()):
            if not busy.acquire(blocking=False):
                return None
            held.append(busy)
        _flush_stdio()
        try:
            return os.fork()
        except OSError:
            return None
    finally:
        for busy in held:
            busy.release()


SHOWN_MOST = 24 * 3600.0
"""Seconds ``aside`` waits for its child to finish the output: as long as the output
takes (a reader may be slow); Ctrl-C ends the wait."""


@contextlib.contextmanager
def aside(show: Callable[[], None]) -> Iterator[None]:
    """Run ``show`` (output due now: a large plan) in a forked child while the block
    runs, and wait for it to finish when the block ends, however it ends: what
    the command writes after the block comes after that output. The child keeps
    stdout and stderr (nothing else), and ends with its output flushed. When it
    cannot fork (see ``can_fork``), ``show`` runs here first, as a plain call."""
    pid = _fork()
    if pid == 0:
        _showing(show)  # never returns
    if pid is None:
        show()
        yield
        return
    _REGISTRY.children[pid] = _Child(frozenset(), _pidfd(pid))
    try:
        yield
    finally:
        _wait_for([pid], SHOWN_MOST)


def _showing(show: Callable[[], None]) -> None:
    """The child of ``aside``: ``show``, flushed, then leave, whatever happens."""
    code = 1
    try:
        gc.disable()
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
        os.closerange(3, _fd_limit())
        _step_back()
        show()
        _flush_stdio()
        code = 0
    except BaseException:  # a closed pipe, Ctrl-C: the output ends there
        pass
    finally:
        os._exit(code)


class Answer:
    """What a child forked by ``run_detached_answering`` hands back before its write:
    the read end of a pipe, read as far as asked (``head``), or to its end (``get``)."""

    __slots__ = ("_fd", "_got")

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._got = b""

    def head(self, size: int, *, most: float = WAIT_MOST) -> bytes | None:
        """The first ``size`` bytes of the answer, read without waiting for the rest
        (the child may still be working it out); None when the child gave fewer
        before it ended or within ``most`` seconds."""
        if len(self._got) < size and self._fd is not None \
                and not self._read(most, until=size):
            self._close()
        return self._got[:size] if len(self._got) >= size else None

    def get(self, *, most: float = WAIT_MOST) -> bytes | None:
        """The child's whole answer; None when it gave none (it failed, or was killed)
        or did not end it within ``most`` seconds (the caller then works it out)."""
        if self._fd is not None:
            complete = self._read(most, until=None)
            self._close()
            if not complete:
                self._got = b""
        return self._got or None

    def _read(self, most: float, *, until: int | None) -> bool:
        """Read until ``until`` bytes are here (or, None, to the end); False when the
        end came first with ``until`` given, or time ran out, or a read failed."""
        import select  # only a parent waiting on an answer needs it

        assert self._fd is not None
        deadline = time.monotonic() + most
        parts = [self._got]
        have = len(self._got)
        try:
            poller = select.poll()  # not select(): any descriptor number
            poller.register(self._fd, select.POLLIN)
            while until is None or have < until:
                left = deadline - time.monotonic()
                if left <= 0 or not poller.poll(left * 1000):
                    return False
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    return until is None
                parts.append(chunk)
                have += len(chunk)
            return True
        except (OSError, ValueError):
            return False
        finally:
            self._got = b"".join(parts)

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def run_detached_answering(answer: Callable[[], bytes | Iterable[bytes]],
                           write: Callable[[], bool], *, keys: Iterable[str]) -> Answer | None:
    """``run_detached(write)`` whose child first works out ``answer()`` and hands its
    bytes back (``Answer.get``), so the parent need not work it out: the render's
    digest, made on the other core while the command takes its lock and reads
    state. None when it cannot fork: nothing ran, and the caller does both itself.

    The child never waits for the parent to read: an answer longer than the pipe
    holds (``ANSWER_ROOM``, where the system allows it) is cut at what it holds,
    so the parent checks what it gets before it uses it."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError, ImportError):
        import fcntl

        fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), ANSWER_ROOM)
    # stdio closed (the pipe took its numbers): the child's /dev/null would replace it
    made = write_end >= 3 and _forked(write, frozenset(keys), answer=(answer, write_end))
    os.close(write_end)
    if not made:
        os.close(read_end)
        return None
    return Answer(read_end)


def can_fork() -> bool:
    """Whether ``run_detached`` would fork now (see the module docstring)."""
    return (_REGISTRY.detaching > 0 and hasattr(os, "fork") and not _REGISTRY.forked
            and not _turned_off() and _single_threaded())


def _turned_off() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() in ("0", "off", "no", "false")


def _single_threaded() -> bool:
    """One thread, or one and the sleepers (``add_sleeper``) only."""
    threads = 1 + sum(1 for thread in _REGISTRY.sleepers if thread.is_alive())
    if threading.active_count() != threads:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == threads
    except OSError:  # no /proc (macOS): threading's count is what there is
        return True


def _flush_stdio() -> None:
    """Flush the parent's buffered output, so that it is written once (the child
    never flushes: ``os._exit``)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # closed, a broken pipe: the parent's own
            stream.flush()


def _child(write: Callable[[], bool], *,
           answer: tuple[Callable[[], bytes | Iterable[bytes]], int] | None = None) -> None:
    """The forked child: hand back ``answer`` (its function and the pipe to write
    it to), run ``write`` and leave, whatever happens."""
    code = 1
    try:
        gc.disable()
        _let_go(keep=None if answer is None else answer[1])
        if answer is not None:
            _hand_back(*answer)
        _step_back()
        code = 0 if write() else 1
    except BaseException:  # Ctrl-C included: only a cache is lost
        pass
    finally:
        os._exit(code)


CHILD_NICE = 15
"""How much a forked child lowers its priority once nothing waits on it (after its
answer): below driftless and below its helper processes (``model.helper.NICE``),
whose work an apply waits for; a cache write or a plan's output has until the
command's end."""


def _step_back() -> None:
    """Lower this child's priority by ``CHILD_NICE`` (a refusal only keeps it as is)."""
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)


def _hand_back(answer: Callable[[], bytes | Iterable[bytes]], fd: int) -> None:
    """Write ``answer()`` to ``fd`` (each part as soon as it is made, when it gives
    parts: the parent may read the first before the next is worked out) and close
    it: the parent reads to the end, so a failure here (nothing written) is an
    answer of nothing, never a wait. What the pipe cannot hold is left out (the
    parent may never read it)."""
    try:
        os.set_blocking(fd, False)
        got = answer()
        for part in (got,) if isinstance(got, bytes) else got:
            data = memoryview(part)
            while data:
                data = data[os.write(fd, data):]
    except Exception:  # a full pipe included: the parent works the rest out itself
        pass
    finally:
        os.close(fd)


def _let_go(*, keep: int | None = None) -> None:
    """Hold none of the parent's descriptors but ``keep``: stdin, stdout and stderr
    become /dev/null (a reader of the command's output sees its end when the
    command ends, not when a late child does) and every other one is closed."""
    with contextlib.suppress(OSError):  # no /dev/null (a bare chroot): keep stdio
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    if keep is None:
        os.closerange(3, _fd_limit())
        return
    os.closerange(3, keep)
    os.closerange(keep + 1, _fd_limit())


def _fd_limit() -> int:
    try:
        return max(3, os.sysconf("SC_OPEN_MAX"))
    except (OSError, ValueError):
        return 1 << 16


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, or too old a kernel
        return None


def wait(keys: Iterable[str], *, most: float = WAIT_MOST) -> None:
    """Reap the children writing any of ``keys``, waiting at most ``most`` seconds,
    and any other child that has ended (a long-lived process leaves no zombie)."""
    names = frozenset(keys)
    _reap_ended()
    _wait_for([pid for pid, c in _REGISTRY.children.items() if c.keys & names], most)


def wait_all(*, most: float = WAIT_MOST) -> None:
    """Reap every child, waiting at most ``most`` seconds in all."""
    _wait_for(list(_REGISTRY.children), most)


def _wait_for(pids: list[int], most: float) -> None:
    deadline = time.monotonic() + most
    for pid in pids:
        _wait_one(pid, deadline)


def _wait_one(pid: int, deadline: float) -> None:
    """Reap ``pid`` if it ends before ``deadline``; else leave it registered."""
    child = _REGISTRY.children.get(pid)
    while child is not None and not _reaped(pid):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        _nap(child, left)


def _nap(child: _Child, most: float) -> None:
    """Until ``child`` ends (its pidfd turns readable) or ``most`` seconds pass; where
    there is no pidfd, or polling it fails, a nap of 2 ms (the caller checks again)."""
    if child.pidfd is not None:
        import select  # only a wait for a child still running needs it

        try:
            poller = select.poll()
            poller.register(child.pidfd, select.POLLIN)
            poller.poll(most * 1000)
            return
        except (OSError, ValueError, AttributeError):
            pass
    time.sleep(min(most, 0.002))


def _reap_ended() -> None:
    """Reap the children that have ended, without waiting."""
    for pid in list(_REGISTRY.children):
        _reaped(pid)


def _reaped(pid: int) -> bool:
    """Whether ``pid`` ended and is reaped now (it leaves the registry)."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # reaped by someone else (a SIGCHLD handler)
        done = pid
    if done == 0:
        return False
    child = _REGISTRY.children.pop(pid, None)  # None: another thread reaped it
    if child is not None and child.pidfd is not None:
        os.close(child.pidfd)
    return True
