"""asyncssh behind a synchronous facade: one event loop thread, pooled connections.

The engine is synchronous; asyncssh is asyncio. ``Transport`` runs one event
loop in a background thread and hands out one ``Connection`` per target,
created on first use and kept (with keepalives) until ``close``. Each
connection runs the host helper (``_remote.py``) with the host's python3,
which answers pipelined JSON requests, and opens SFTP for file uploads. A
connection that dropped is opened again on the next request; requests that
are safe to repeat are repeated once. At most ``parallel`` requests are in
flight across all hosts. I/O: the network (SSH).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shlex
import threading
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from driftless.providers.ssh._lib import asyncssh
from driftless.providers.ssh.hostkeys import HostKeyPolicy, Verdict
from driftless.providers.ssh.settings import Settings
from driftless.providers.ssh.target import HostDown, SshTarget

__all__ = ["Connection", "HostDown", "Settings", "Transport"]

T = TypeVar("T")
_HELPER = (Path(__file__).with_name("_remote.py")).read_text()
SUPERVISE_SOURCE = (Path(__file__).parent.parent / "local" / "supervise.py").read_text()
_MODULES = (("_dl_supervise", SUPERVISE_SOURCE),
            ("_dl_service", (Path(__file__).with_name("_svc_remote.py")).read_text()))
"""Modules ``module_call`` loads into the helper on first use (stdlib only)."""
PREFETCH_TTL = 10.0  # seconds a prefetched stat stands in for a read of the same plan


class _Client(asyncssh.SSHClient):
    """Checks the host key with the policy, keeping why it refused."""

    def __init__(self, target: SshTarget, policy: HostKeyPolicy, verdict: Verdict) -> None:
        self._target, self._policy, self._verdict = target, policy, verdict

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        return self._policy.check(self._target, key, self._verdict)


class Connection:
    """One host: an SSH connection, its helper process and an SFTP session."""

    def __init__(self, transport: Transport, target: SshTarget) -> None:
        self.transport = transport
        self.target = target
        self._conn: asyncssh.SSHClientConnection | None = None
        self._proc: asyncssh.SSHClientProcess[str] | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._opening: asyncio.Lock | None = None
        self.helper_pid = 0
        # path -> (raw lstat, when): what ``prefetch`` stat-ed for the reads of a plan;
        # each entry is used once, and only while fresh
        self.prefetched: dict[str, tuple[Any, float]] = {}

    # -- connecting -------------------------------------------------------
    async def _open(self) -> None:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._proc is not None and not self._closed():
                return
            await self._drop()
            await self._connect()

    def _closed(self) -> bool:
        return self._conn is None or self._conn.is_closed()

    async def _connect(self) -> None:
        s, t = self.transport.settings, self.target
        verdict = Verdict()
        algs = [k.get_algorithm() for k in s.hostkeys.known_keys(t)]
        try:
            self._conn = await asyncssh.connect(
                t.host, t.port, username=t.user or s.user or "root",
                client_keys=list(s.identity) or (), known_hosts=([], [], []),
                client_factory=lambda: _Client(t, s.hostkeys, verdict),
                server_host_key_algs=algs or "default", agent_path=None,
                connect_timeout=s.connect_timeout, keepalive_interval=s.keepalive,
                keepalive_count_max=3, config=None)
        except asyncssh.HostKeyNotVerifiable:
            raise HostDown(verdict.refused or f"host key of {t} not trusted",
                           hint=verdict.hint) from None
        except asyncssh.PermissionDenied:
            raise HostDown(f"{t}: authentication refused", hint="check the user and the "
                           "key in providers.ssh.identity") from None
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise HostDown(f"{t}: cannot connect: {exc or type(exc).__name__}",
                           retryable=True) from None
        await self._start_helper()

    async def _start_helper(self) -> None:
        assert self._conn is not None
        # the distribution's python3 when there is one: a PATH shim (pyenv) costs ~0.6 s
        py = shlex.quote(self.transport.settings.python) if self.transport.settings.python \
            else '"$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)"'
        cmd = f"exec {py} -c {shlex.quote(_HELPER)}"
        if self.target.sudo:
            cmd = f"exec sudo -n sh -c {shlex.quote(cmd)}"
        self._proc = await self._conn.create_process(cmd, encoding="utf-8")
        first = await asyncio.wait_for(self._proc.stdout.readline(), 30)
        if not first.startswith('{"ready"'):
            err = (await self._proc.stderr.read(2000)) if self._proc.stderr else ""
            raise HostDown(f"{self.target}: cannot start the helper with python3"
                           f"{' under sudo -n' if self.target.sudo else ''}: "
                           f"{err.strip()[-300:] or 'no answer'}",
                           hint="the host needs python3 (and passwordless sudo when sudo is set)")
        self.helper_pid = int(json.loads(first).get("pid", 0))
        asyncio.get_running_loop().create_task(self._read_replies(self._proc))

    async def _read_replies(self, proc: asyncssh.SSHClientProcess[str]) -> None:
        try:
            async for line in proc.stdout:
                if not line.startswith("{"):
                    continue  # not the helper's (a login banner, a blank line)
                reply = json.loads(line)
                fut = self._pending.pop(reply["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(reply)
        except (OSError, asyncssh.Error):
            pass  # the connection went away: every waiting request fails below
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(HostDown(f"{self.target}: connection lost", retryable=True))
        self._pending.clear()

    async def _drop(self) -> None:
        conn, self._conn, self._proc, self._sftp = self._conn, None, None, None
        if conn is not None:
            conn.abort()
            with contextlib.suppress(Exception):
                await conn.wait_closed()

    # -- requests -----------------------------------------------------------
    async def _request(self, op: str, args: Sequence[Any], *, retry: bool) -> Any:
        async with self.transport.slots:
            for attempt in range(2 if retry else 1):
                try:
                    return await self._once(op, args)
                except HostDown:
                    if attempt or not retry:
                        raise
                    await self._drop()
        raise AssertionError("unreachable")

    async def _once(self, op: str, args: Sequence[Any]) -> Any:
        await self._open()
        assert self._proc is not None
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._proc.stdin.write(json.dumps({"id": rid, "op": op, "args": list(args)}) + "\n")
        except (OSError, asyncssh.Error) as exc:
            self._pending.pop(rid, None)
            raise HostDown(f"{self.target}: connection lost ({exc})", retryable=True) from None
        try:
            reply = await asyncio.wait_for(fut, self.transport.settings.request_timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            raise HostDown(f"{self.target}: no answer within "
                           f"{self.transport.settings.request_timeout:g}s", retryable=True) \
                from None
        if "err" in reply:
            code, text = reply["err"]
            raise OSError(code, text) if code else RuntimeError(text)
        return reply["ok"]

    def take_prefetched(self, path: str) -> tuple[bool, Any]:
        """(True, raw lstat) when ``prefetch`` stat-ed ``path`` moments ago; used once."""
        found = self.prefetched.pop(path, None)
        if found is None or time.monotonic() - found[1] > PREFETCH_TTL:
            return False, None
        return True, found[0]

    async def prefetch_lstat(self, paths: list[str]) -> None:
        """Stat ``paths`` in one round trip, for the reads that follow (errors: none kept)."""
        try:
            raws = await self._request("lstat_many", [paths], retry=True)
        except (HostDown, OSError, RuntimeError):
            return
        now = time.monotonic()
        self.prefetched.update((p, (raw, now)) for p, raw in zip(paths, raws, strict=True))

    def call(self, op: str, *args: Any, retry: bool = True) -> Any:
        """Run one helper operation and return its result (``OSError`` as on the host).

        Anything that may change the host drops what ``prefetch`` stat-ed there."""
        if op not in _READ_ONLY:
            self.prefetched.clear()
        return self.transport.run(self._request(op, args, retry=retry))

    def module_call(self, func: str, *args: Any, read_only: bool = False,
                    retry: bool = True) -> Any:
        """Call ``func`` of the service module (``_svc_remote``) in the host helper,
        loading it (and the supervisor it uses) on the first call of a helper."""
        op = "mod_read" if read_only else "mod_call"
        try:
            return self.call(op, "_dl_service", func, list(args), retry=retry)
        except RuntimeError as exc:
            if "not loaded" not in str(exc):
                raise
        for name, source in _MODULES:
            self.call("mod_load", name, source)
        return self.call(op, "_dl_service", func, list(args), retry=retry)

    async def _upload(self, tmp: str, data: bytes) -> None:
        await self._open()
        assert self._conn is not None
        if self._sftp is None:
            self._sftp = await self._conn.start_sftp_client()
        async with self._sftp.open(tmp, "wb", asyncssh.SFTPAttrs(permissions=0o600)) as fh:
            await fh.write(data)

    def upload(self, tmp: str, data: bytes) -> None:
        """Write ``data`` to ``tmp`` over SFTP (the caller renames it into place)."""
        self.prefetched.clear()
        async def go() -> None:
            async with self.transport.slots:
                try:
                    await self._upload(tmp, data)
                except asyncssh.SFTPError as exc:
                    raise OSError(_SFTP_ERRNO.get(exc.code, 5), exc.reason) from None
                except (OSError, asyncssh.Error) as exc:
                    await self._drop()
                    raise HostDown(f"{self.target}: upload failed: {exc}", retryable=True) \
                        from None
        self.transport.run(go())

    def run_b64(self, argv: Sequence[str], cwd: str | None, env: dict[str, str],
                timeout: float) -> tuple[int, bytes, bytes, bool]:
        """Run a command through the helper (never repeated on a lost connection)."""
        code, out, err, timed_out = self.call("run", list(argv), cwd, env, timeout,
                                              retry=False)
        return int(code), base64.b64decode(out), base64.b64decode(err), bool(timed_out)

    async def aclose(self) -> None:
        """Drop the connection."""
        await self._drop()


_READ_ONLY = frozenset({"lstat", "lstat_many", "sha256", "read", "readlink", "isdir", "islink",
                        "lexists", "listdir", "ids", "names", "mod_read"})

_SFTP_ERRNO = {asyncssh.FX_NO_SUCH_FILE: 2, asyncssh.FX_PERMISSION_DENIED: 13}


class Transport:
    """The event loop thread and the connection pool of one provider."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="driftless-ssh",
                                        daemon=True)
        self._thread.start()
        self._conns: dict[SshTarget, Connection] = {}
        self._lock = threading.Lock()
        self.slots = self.run(self._semaphore())

    async def _semaphore(self) -> asyncio.Semaphore:
        return asyncio.Semaphore(self.settings.parallel)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def connection(self, target: SshTarget) -> Connection:
        """The pooled connection to ``target`` (opened on its first request)."""
        with self._lock:
            conn = self._conns.get(target)
            if conn is None:
                conn = self._conns[target] = Connection(self, target)
            return conn

    def close(self) -> None:
        """Close every connection and stop the loop thread."""
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            with contextlib.suppress(Exception):
                self.run(c.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
