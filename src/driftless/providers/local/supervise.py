"""The service supervisor: a small detached process that runs one service.

``local:service`` starts ``python -m driftless.providers.local.supervise
CONFIG.json``; this module forks once more so the supervisor is re-parented
away from the CLI or agent and outlives it. The supervisor starts the child in
its own process group, copies its output into a size-capped rotating log,
restarts it per the restart policy with exponential backoff, and on SIGTERM
stops it gracefully (SIGTERM to the group, wait ``stop_timeout``, SIGKILL).

Standard library only (process start times come from ``/proc``; psutil is
used only where there is no ``/proc``): the ssh provider ships this file to a
host and runs it with the host's ``python3``, where driftless is not installed.

I/O: the config file (read), the status file (written atomically on every
state change), the log files, and the child process. Secrets reach the child
only through the environment this process inherits, never through files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "RotatingLog",
    "SupervisorConfig",
    "is_alive",
    "launch",
    "load_status",
    "main",
    "read_env_file",
    "stop",
    "write_json_atomic",
]

_MAX_BACKOFF = 10.0
_STABLE_AFTER = 10.0  # a child that ran this long resets the backoff


@dataclass(frozen=True)  # not ``record``: this file runs on remote hosts, stdlib only
class SupervisorConfig:
    """What to run and how; stored as JSON next to the status file."""

    argv: list[str]
    status: str
    log: str
    cwd: str | None = None
    env_file: str | None = None
    env_keys: list[str] = field(default_factory=list)
    restart: str = "always"
    stop_timeout: float = 10.0
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3
    spec: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> SupervisorConfig:
        """Read a config written by ``local:service``."""
        return cls(**json.loads(Path(path).read_text()))


def write_json_atomic(path: str | Path, doc: dict[str, Any], *, mode: int = 0o600) -> None:
    """Write JSON through a temp file and rename, so readers never see half."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, sort_keys=True)
    os.replace(tmp, target)


def read_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines, ``#`` comments and ``export`` allowed."""
    env: dict[str, str] = {}
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


class RotatingLog:
    """Append bytes to a file; past ``max_bytes`` shift it to ``.1`` … ``.N``."""

    def __init__(self, path: str | Path, *, max_bytes: int, backups: int) -> None:
        self.path = Path(path)
        self.max_bytes = max(1, max_bytes)
        self.backups = max(0, backups)
        self._lock = threading.Lock()
        self._fh: BinaryIO = open(self.path, "ab")  # noqa: SIM115 - held for the process life

    def write(self, data: bytes) -> None:
        """Append, rotating first when the write would pass the cap."""
        with self._lock:
            if self._fh.tell() + len(data) > self.max_bytes and self._fh.tell() > 0:
                self._rotate()
            self._fh.write(data)
            self._fh.flush()

    def note(self, message: str) -> None:
        """A supervisor line, marked so it stands out from the child's output."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.write(f"[driftless {stamp}] {message}\n".encode())

    def _rotate(self) -> None:
        self._fh.close()
        for n in range(self.backups, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            newer = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
            if newer.exists():
                os.replace(newer, older)
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        self._fh = open(self.path, "ab")  # noqa: SIM115


class Supervisor:
    """Runs the child per the config until told to stop."""

    def __init__(self, config: SupervisorConfig) -> None:
        self.config = config
        self.log = RotatingLog(config.log, max_bytes=config.log_max_bytes,
                               backups=config.log_backups)
        self.stop = threading.Event()
        self.restarts = 0
        self.status: dict[str, Any] = {
            "supervisor_pid": os.getpid(), "supervisor_create_time": _create_time(os.getpid()),
            "started_at": time.time(), "restarts": 0, "state": "starting",
            "child_pid": None, "child_create_time": None, "last_exit": None,
        }

    def run(self) -> int:
        """The supervise loop; returns the supervisor's exit code."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        failures = 0
        while not self.stop.is_set():
            began = time.monotonic()
            code = self._run_child()
            if code is None or self.stop.is_set():
                break
            if not self._should_restart(code):
                self._set(state="exited")
                return 0
            failures = 0 if time.monotonic() - began > _STABLE_AFTER else failures + 1
            self._backoff(code, failures)
        self._set(state="stopped", child_pid=None, child_create_time=None)
        self.log.note("stopped")
        return 0

    def _should_restart(self, code: int) -> bool:
        policy = self.config.restart
        return policy == "always" or (policy == "on-failure" and code != 0)

    def _backoff(self, code: int, failures: int) -> None:
        delay = min(_MAX_BACKOFF, 0.25 * 2 ** max(0, failures - 1))
        self.restarts += 1
        self._set(state="backoff", restarts=self.restarts, child_pid=None)
        self.log.note(f"exited with code {code}; restarting in {delay:g}s")
        self.stop.wait(delay)

    def _run_child(self) -> int | None:
        """Start, pump output, wait; None when it could not start at all."""
        try:
            child = subprocess.Popen(
                self.config.argv, cwd=self.config.cwd, env=self._child_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self.log.note(f"cannot start {self.config.argv[0]!r}: {exc.strerror or exc}")
            self._set(state="exited", last_exit=127)
            return None
        assert child.stdout is not None
        threading.Thread(target=self._pump, args=(child.stdout,), daemon=True).start()
        self._set(state="running", child_pid=child.pid,
                  child_create_time=_create_time(child.pid), child_started_at=time.time())
        self.log.note(f"started pid {child.pid}")
        code = self._wait(child)
        self._set(last_exit=code)
        return code

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.config.env_file and Path(self.config.env_file).exists():
            explicit = set(self.config.env_keys)
            for key, value in read_env_file(self.config.env_file).items():
                if key not in explicit:  # `env` beats `env_file`, like an override
                    env[key] = value
        return env

    def _pump(self, stream: BinaryIO) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            self.log.write(chunk)

    def _wait(self, child: subprocess.Popen[bytes]) -> int:
        while child.poll() is None:
            if self.stop.wait(0.1):
                return self._terminate(child)
        return child.returncode

    def _terminate(self, child: subprocess.Popen[bytes]) -> int:
        """SIGTERM the group, wait ``stop_timeout``, then SIGKILL it."""
        _signal_group(child.pid, signal.SIGTERM)
        try:
            code = child.wait(timeout=self.config.stop_timeout)
        except subprocess.TimeoutExpired:
            self.log.note(f"still running {self.config.stop_timeout:g}s after SIGTERM; SIGKILL")
            _signal_group(child.pid, signal.SIGKILL)
            code = child.wait()
        _signal_group(child.pid, signal.SIGKILL)  # stragglers left in the group
        return code

    def _set(self, **changes: Any) -> None:
        self.status.update(changes)
        write_json_atomic(self.config.status, self.status)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _create_time(pid: int) -> float | None:
    found = _proc_start(pid)
    return found[0] if found else None


def _proc_start(pid: int) -> tuple[float, bool] | None:
    """(start time in epoch seconds, is a zombie) of ``pid``; None when it is gone.

    From ``/proc/<pid>/stat`` and the boot time in ``/proc/stat``, the numbers
    psutil's ``create_time`` is made of, so records of either agree; psutil
    only where there is no ``/proc``.
    """
    if not os.path.isdir("/proc/self"):
        return _psutil_start(pid)
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return _boot_time() + int(fields[19]) / ticks, fields[0] == "Z"


def _boot_time() -> float:
    with open("/proc/stat") as fh:
        for line in fh:
            if line.startswith("btime"):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def _psutil_start(pid: int) -> tuple[float, bool] | None:
    import psutil  # only where there is no /proc (macOS)

    try:
        proc = psutil.Process(pid)
        return float(proc.create_time()), proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return None


# --- used by local:service, in the CLI or agent process -----------------------


def load_status(path: str | Path) -> dict[str, Any] | None:
    """The supervisor's last written status, or None when there is none."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def is_alive(pid: int | None, create_time: float | None) -> bool:
    """Whether ``pid`` is still the process that started at ``create_time``.

    Comparing the start time is what makes a reused pid harmless; a zombie
    (exited, not yet reaped) counts as gone.
    """
    if not pid or create_time is None:
        return False
    found = _proc_start(int(pid))
    return bool(found and abs(found[0] - float(create_time)) < 0.05 and not found[1])


def launch(config_path: str | Path, *, env: dict[str, str], cwd: str | Path,
           script: str | Path | None = None) -> None:
    """Start a detached supervisor for ``config_path`` and reap the launcher.

    ``script`` is this file (by default the one imported here; on an SSH host the
    copy shipped there)."""
    # Run this file by path (-I: its directory is not put on sys.path, on every
    # python3): it needs only the stdlib, and ``-m`` would import the provider
    # packages first (0.1-0.2 s of every service start and restart).
    path = Path(script) if script is not None else Path(__file__).resolve()
    launcher = subprocess.Popen(
        [sys.executable, "-I", str(path), str(config_path)],
        env=env, cwd=cwd, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    launcher.wait(timeout=30)


def stop(status: dict[str, Any], *, stop_timeout: float) -> None:
    """Stop a supervisor and its child gracefully, escalating to SIGKILL.

    The supervisor does the SIGTERM → wait → SIGKILL dance itself; if it is
    gone or hung, the child's process group gets the same treatment here.
    """
    sup = (status.get("supervisor_pid"), status.get("supervisor_create_time"))
    child = (status.get("child_pid"), status.get("child_create_time"))
    if is_alive(*sup):
        os.kill(int(sup[0] or 0), signal.SIGTERM)
        if _wait_gone(sup, stop_timeout + 5.0):
            return
        os.kill(int(sup[0] or 0), signal.SIGKILL)
    if is_alive(*child):
        _signal_group(int(child[0] or 0), signal.SIGTERM)
        if not _wait_gone(child, stop_timeout):
            _signal_group(int(child[0] or 0), signal.SIGKILL)
            _wait_gone(child, 5.0)


def _wait_gone(proc: tuple[Any, Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(*proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _detach() -> None:
    """Fork once more; the parent returns at once so the caller can reap it."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()  # not a group leader after the fork, so this cannot fail
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


def main(argv: list[str] | None = None) -> int:
    """``supervise CONFIG.json [--foreground]``."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m driftless.providers.local.supervise CONFIG.json", file=sys.stderr)
        return 2
    config = SupervisorConfig.load(args[0])
    if "--foreground" not in args:
        _detach()
    return Supervisor(config).run()


if __name__ == "__main__":
    sys.exit(main())
