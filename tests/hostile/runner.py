"""Run driftless commands on one (hostile) repository, each in its own child process.

Every command (``validate``, ``plan``, ``render``, ``apply --auto-approve``) runs
in a separate process forked from a *zygote*: a long-lived helper process
(``python runner.py serve``) that has imported driftless once, so a command
costs a ``fork()`` instead of a ~0.5 s interpreter start. The zygote itself
never runs a command, so every child starts from the same pristine state a
fresh ``driftless`` process would have after its imports. ``HOSTILE_SPAWN=1``
runs each command in a fresh interpreter instead (``python runner.py child``),
slower but with nothing shared; both use the same child code.

In the child, before driftless runs:

* stdout/stderr go to files, stdin is /dev/null, the child leads its own
  process group (so a timeout kills whatever it spawned too);
* ``RLIMIT_AS`` is set to ``AS_LIMIT`` (3 GiB): a safety net so a memory bomb
  fails instead of taking the shared machine down. The assertion is 500 MB,
  so anything near this net has already failed; the supervisor also kills a
  child whose RSS passes ``RSS_KILL`` (1.5 GiB) and says so;
* a ``sys.addaudithook`` hook records, one JSON line per finding written with
  ``os.write`` straight to a side file (it survives a kill; nothing goes to
  stdout), every
  - ``open`` / ``sqlite3.connect`` / directory listing of a path whose real
    path (symlinks resolved) lies outside the *readable roots*,
  - write-like operation (open for writing, mkdir, rename, remove, symlink,
    chmod, ...) outside the *writable roots*,
  - process creation: ``subprocess.Popen``, ``os.system``, ``os.exec``,
    ``os.posix_spawn``, ``os.spawn``, ``os.fork``, ``os.forkpty``, ``pty.spawn``.

Readable roots (tight on purpose; a hostile repository must not read anything
else): the repository, the per-repo sandbox, the child's own TMPDIR, the
Python installation (prefix, base prefix, stdlib, site-packages of the venv)
and the driftless package directory, ``/dev/null``, ``/dev/urandom``,
``/dev/random``, ``/etc/localtime``, ``/usr/share/zoneinfo``, ``/etc/mime.types``
(and the other files ``mimetypes`` reads), ``/proc/self/{stat,status,statm,
maps,mounts,cgroup}`` and ``/proc/<own pid>/`` the same, ``/sys/fs/cgroup``,
``/sys/devices/system/cpu``. Writable roots: the sandbox, the repository's
``.driftless/`` (the default state directory) and the child's TMPDIR.

The supervisor (zygote, or the test process in spawn mode) waits with a
pidfd, polls ``/proc/<pid>/status`` for VmHWM, kills the group after
``timeout`` seconds, and reaps with ``os.wait4`` so ``ru_maxrss`` is the peak
RSS of that one child.

Use from the command line to reproduce one repository::

    .venv/bin/python tests/hostile/runner.py run REPO SANDBOX [--var k=v ...] [--env E]
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "COMMANDS",
    "TIMEOUT",
    "CommandResult",
    "Runner",
]

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("validate",), ("plan",), ("render",), ("apply", "--auto-approve"))
TIMEOUT = 10.0
AS_LIMIT = 3 * 1024 ** 3
RSS_KILL = 1536 * 1024  # kB
HERE = Path(__file__).resolve()

SPAWN_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
    "os.forkpty", "pty.spawn", "os.startfile",
})
# event -> (index of a path argument it writes, index of that path's dir_fd or None)
WRITE_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "os.mkdir": ((0, 2),), "os.rename": ((0, 2), (1, 3)), "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),), "os.symlink": ((1, 2),), "os.link": ((1, 3),),
    "os.chmod": ((0, 2),), "os.chown": ((0, 3),), "os.truncate": ((0, None),),
    "os.utime": ((0, 3),), "shutil.rmtree": ((0, 1),), "shutil.copyfile": ((1, None),),
    "shutil.move": ((1, None),),
}
LIST_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.walk"})
# files Python's own runtime may read; anything else outside the roots is a finding
RUNTIME_FILES = ("/dev/null", "/dev/urandom", "/dev/random", "/etc/localtime",
                 "/etc/mime.types", "/etc/httpd/mime.types", "/etc/httpd/conf/mime.types",
                 "/etc/apache/mime.types", "/etc/apache2/mime.types",
                 "/usr/local/etc/httpd/conf/mime.types", "/usr/local/lib/netscape/mime.types",
                 "/usr/local/etc/mime.types")
RUNTIME_DIRS = ("/usr/share/zoneinfo", "/sys/fs/cgroup", "/sys/devices/system/cpu")
PROC_FILES = ("stat", "status", "statm", "maps", "mounts", "cgroup")


def python_roots() -> list[str]:
    """Where the interpreter, the venv's packages and driftless live (read-only)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            roots.add(sysconfig.get_paths()[key])
    import driftless

    roots.add(str(Path(driftless.__file__).resolve().parent))
    return sorted({os.path.realpath(r) for r in roots})


# --------------------------------------------------------------------------- child side


class _Audit:
    """The audit hook's state: roots and the side file it appends findings to."""

    def __init__(self, fd: int, read_roots: Sequence[str], write_roots: Sequence[str]) -> None:
        self.fd = fd
        pid = os.getpid()
        proc = [f"/proc/{who}/{f}" for who in ("self", "thread-self", str(pid)) for f in PROC_FILES]
        self.read_files = frozenset((*RUNTIME_FILES, *proc))
        self.read_roots = tuple(os.path.realpath(r) for r in (*read_roots, *RUNTIME_DIRS))
        self.write_roots = (*(os.path.realpath(r) for r in write_roots), "/dev/null")
        self.seen: set[tuple[str, str]] = set()
        # per thread: the hook must not see its own opens, but an event of another
        # thread arriving meanwhile (a command and a file applied in parallel) counts
        self.local = threading.local()
        self.count = 0

    def emit(self, kind: str, what: str, detail: str = "") -> None:
        key = (kind, what)
        if key in self.seen or self.count > 200:
            return
        self.seen.add(key)
        self.count += 1
        line = json.dumps({"kind": kind, "what": what, "detail": detail}) + "\n"
        with contextlib.suppress(OSError):
            os.write(self.fd, line.encode("utf-8", "backslashreplace"))

    @staticmethod
    def _path(raw: Any, dir_fd: Any = None) -> str | None:
        if isinstance(raw, int) or raw is None:
            return None  # an already-open descriptor
        try:
            raw = os.fspath(raw)
        except TypeError:
            return None
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "surrogateescape")
        if "\0" in raw:
            return None  # open() will refuse it before touching the file system
        at_fd = isinstance(dir_fd, int) and dir_fd >= 0  # -1: no dir_fd given
        base = os.readlink(f"/proc/self/fd/{dir_fd}") if at_fd else os.getcwd()
        return os.path.realpath(os.path.join(base, raw))

    @staticmethod
    def _under(path: str, roots: Sequence[str]) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    def readable(self, path: str) -> bool:
        return path in self.read_files or self._under(path, self.read_roots)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if getattr(self.local, "busy", False):
            return
        self.local.busy = True
        try:
            self._event(event, args)
        except Exception as exc:  # never let the harness change driftless's behaviour
            self.emit("hook-error", event, repr(exc))
        finally:
            self.local.busy = False

    def _event(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path = self._path(args[0])
            if path is None:
                return
            mode = args[1] if len(args) > 1 else None
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
            if writing and not self._under(path, self.write_roots):
                self.emit("write", path, f"open {mode!r}")
            elif not self.readable(path):
                self.emit("read", path, f"open {mode!r}" + (f" ({args[0]!r})" if
                                                            str(args[0]) != path else ""))
        elif event == "sqlite3.connect":
            self._sqlite(args[0] if args else None)
        elif event in LIST_EVENTS:
            path = self._path(args[0] if args and args[0] is not None else ".")
            if path is not None and not self.readable(path):
                self.emit("read", path, event)
        elif event in WRITE_EVENTS:
            for i, fd_at in WRITE_EVENTS[event]:
                dir_fd = args[fd_at] if fd_at is not None and len(args) > fd_at else None
                path = self._path(args[i], dir_fd) if len(args) > i else None
                if path is not None and not self._under(path, self.write_roots):
                    self.emit("write", path, event)
        elif event in SPAWN_EVENTS:
            self.emit("exec", event, repr(args)[:300])

    def _sqlite(self, raw: Any) -> None:
        name = os.fsdecode(raw) if isinstance(raw, str | bytes | os.PathLike) else ""
        if not name or name == ":memory:":
            return
        read_only = False
        if name.startswith("file:"):  # a URI: file:/path?mode=ro
            name, _, query = name[len("file:"):].partition("?")
            read_only = "mode=ro" in query
            if name.startswith("//"):
                name = name[2:]
        path = self._path(name)
        if path is None:
            return
        if read_only and not self.readable(path):
            self.emit("read", path, "sqlite3.connect (read-only)")
        elif not read_only and not self._under(path, self.write_roots):
            self.emit("write", path, "sqlite3.connect")


def child_main(request: Mapping[str, Any]) -> int:
    """Run one driftless command (in the current, already separate, process)."""
    os.setpgid(0, 0)
    prefix = request["out_prefix"]
    out = os.open(prefix + ".stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err = os.open(prefix + ".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    audit_fd = os.open(prefix + ".audit", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
                       0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in (out, err, null):
        os.close(fd)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["driftless", *request["argv"]]
    from driftless.cli import main

    hook = _Audit(audit_fd, request["read_roots"], request["write_roots"])
    sys.addaudithook(hook)
    code: int
    try:
        main()
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        hook.busy = True  # printing reads the source of every frame: not driftless's doing
        traceback.print_exc()  # what a real interpreter would print
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    return code


# --------------------------------------------------------------------------- supervision


def _vm_hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def supervise(pid: int, timeout: float) -> dict[str, Any]:
    """Wait for ``pid`` (leader of its process group) with a deadline; its peak RSS."""
    start = time.monotonic()
    pidfd = os.pidfd_open(pid)
    peak = 0
    timed_out = mem_killed = False
    try:
        while True:
            ready, _, _ = select.select([pidfd], [], [], 0.01)
            if ready:
                break
            peak = max(peak, _vm_hwm(pid))
            if peak > RSS_KILL:
                mem_killed = True
            elif time.monotonic() - start > timeout:
                timed_out = True
            else:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            break
        _, status, usage = os.wait4(pid, 0)
    finally:
        os.close(pidfd)
    wall = time.monotonic() - start
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # anything it left running
    return {
        "exit_code": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "mem_killed": mem_killed,
        "wall": wall,
        "peak_rss_kb": max(peak, usage.ru_maxrss),
    }


def serve() -> None:
    """The zygote: import driftless once, then fork one child per request line."""
    proto_in = sys.stdin.buffer
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # nothing but the protocol may reach the test process
    # the point of the zygote: import once, before forking. The CLI imports a
    # command's modules and the local provider its kinds lazily, so load them all
    # here: an import in the child would show as reads outside (e.g. psutil's
    # /proc/stat, listings of sys.path entries) that no repository caused.
    from driftless.cli.application import full_app
    from driftless.providers.local import LocalProvider

    full_app()
    kinds = LocalProvider().kinds()
    for kind in kinds:
        kinds[kind]

    with contextlib.suppress(ImportError):
        import jinja2  # noqa: F401
    assert threading.active_count() == 1, "the zygote must stay single-threaded"
    for line in proto_in:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                proto_out.close()
                code = child_main(request)
            finally:
                os._exit(code)
        answer = supervise(pid, request["timeout"])
        proto_out.write(json.dumps(answer).encode() + b"\n")


# --------------------------------------------------------------------------- test side


@dataclass
class CommandResult:
    """What one command did."""

    command: str
    argv: list[str]
    exit_code: int | None
    timed_out: bool
    mem_killed: bool
    wall: float
    peak_rss_mb: float
    stdout: bytes
    stderr: bytes
    findings: list[dict[str, str]] = field(default_factory=list)

    @property
    def output(self) -> bytes:
        return self.stdout + b"\n" + self.stderr

    @property
    def traceback(self) -> bool:
        return b"Traceback" in self.output

    def of_kind(self, kind: str) -> list[str]:
        return [f"{f['what']} [{f['detail']}]" for f in self.findings if f["kind"] == kind]

    def first_line(self) -> str:
        """The first meaningful line of the output (for reports)."""
        text = self.stderr.decode("utf-8", "replace") or self.stdout.decode("utf-8", "replace")
        if self.traceback:
            lines = [ln for ln in self.output.decode("utf-8", "replace").splitlines()
                     if ln.strip() and not ln.startswith(" ")]
            after = [ln for ln in lines if not ln.startswith("Traceback")]
            return (after[-1] if after else "Traceback")[:200]
        for ln in text.splitlines():
            if ln.strip():
                return ln.strip()[:200]
        return ""


class Runner:
    """Runs commands through a zygote (default) or fresh interpreters (HOSTILE_SPAWN=1)."""

    def __init__(self, spawn: bool | None = None) -> None:
        self.spawn = bool(os.environ.get("HOSTILE_SPAWN")) if spawn is None else spawn
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.read_base = python_roots()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def _zygote(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            self.log = tempfile.TemporaryFile()  # noqa: SIM115  (kept for the zygote's life)
            self.proc = subprocess.Popen(
                [sys.executable, str(HERE), "serve"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=self.log,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        return self.proc

    def _log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.spawn:
            proc = subprocess.Popen([sys.executable, str(HERE), "child", json.dumps(request)])
            answer = supervise(proc.pid, request["timeout"])
            proc.returncode = answer["exit_code"]
            return answer
        with self.lock:
            for attempt in (1, 2):  # a zygote that died (e.g. src/ was mid-edit) is restarted
                zygote = self._zygote()
                assert zygote.stdin is not None and zygote.stdout is not None
                try:
                    zygote.stdin.write(json.dumps(request).encode() + b"\n")
                    zygote.stdin.flush()
                    line = zygote.stdout.readline()
                except BrokenPipeError:
                    line = b""
                if line:
                    return dict(json.loads(line))
                zygote.wait()
                if attempt == 2:
                    raise RuntimeError("the hostile-runner zygote died:\n" + self._log_tail())
        raise AssertionError("unreachable")

    def run(self, repo: Path, sandbox: Path, work: Path, *, variables: Sequence[str] = (),
            env: str | None = None, environ: Mapping[str, str] | None = None,
            commands: Sequence[Sequence[str]] = COMMANDS,
            timeout: float = TIMEOUT) -> list[CommandResult]:
        """Run each command on ``repo``; ``work`` receives outputs, home and TMPDIR."""
        home, tmp = work / "home", work / "tmp"
        for d in (home / ".config", home / ".cache", tmp):  # as an operator's home has
            d.mkdir(parents=True, exist_ok=True)
        extra: list[str] = []
        for v in variables:
            extra += ["--var", v]
        if env is not None:
            extra += ["--env", env]
        child_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "TMPDIR": str(tmp), "NO_COLOR": "1", "COLUMNS": "120", "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", **(environ or {}),
        }
        results = []
        for command in commands:
            name = command[0]
            argv = ["-C", str(repo), *command, *extra]
            prefix = str(work / name)
            # the operator's own driftless config (the digest key, made on first use) is
            # operator material, like an age key: reading and creating it is allowed; so is
            # the operator's driftless cache (compiled record methods), at a path no
            # repository chooses
            operator = str(home / ".config" / "driftless")
            cache = str(home / ".cache" / "driftless")
            request = {
                "argv": argv, "cwd": str(repo), "env": child_env, "out_prefix": prefix,
                "timeout": timeout,
                "read_roots": [*self.read_base, str(repo), str(sandbox), str(tmp), operator,
                               cache],
                "write_roots": [str(sandbox), str(repo / ".driftless"), str(tmp), operator,
                                cache],
            }
            answer = self._request(request)
            audit = Path(prefix + ".audit")
            findings = [json.loads(ln) for ln in audit.read_text().splitlines() if ln] \
                if audit.exists() else []
            results.append(CommandResult(
                command=" ".join(command), argv=argv, exit_code=answer["exit_code"],
                timed_out=answer["timed_out"], mem_killed=answer["mem_killed"],
                wall=answer["wall"], peak_rss_mb=answer["peak_rss_kb"] / 1024,
                stdout=_read(prefix + ".stdout"), stderr=_read(prefix + ".stderr"),
                findings=findings))
        return results


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


def _cli(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        serve()
    elif argv[:1] == ["child"]:
        os._exit(child_main(json.loads(argv[1])))
    elif argv[:1] == ["run"] and len(argv) >= 3:
        repo, sandbox = Path(argv[1]).resolve(), Path(argv[2]).resolve()
        rest = argv[3:]
        variables = [rest[i + 1] for i, a in enumerate(rest) if a == "--var"]
        envs = [rest[i + 1] for i, a in enumerate(rest) if a == "--env"]
        work = Path(os.environ.get("TMPDIR", "/tmp")) / f"hostile-run-{os.getpid()}"
        with Runner() as runner:
            for r in runner.run(repo, sandbox, work, variables=variables,
                                env=envs[0] if envs else None):
                print(f"== {r.command}: exit {r.exit_code} timeout={r.timed_out} "
                      f"{r.wall:.2f}s {r.peak_rss_mb:.0f} MB")
                for f in r.findings:
                    print(f"   {f['kind']}: {f['what']} {f['detail']}")
                print(r.output.decode("utf-8", "replace")[-2000:])
        print(f"(outputs in {work})")
    else:
        print(__doc__)
        raise SystemExit(2)


if __name__ == "__main__":
    _cli(sys.argv[1:])
