"""External secret references: ``${secret.env:NAME}``, ``${secret.file:/PATH}``,
``${secret.cmd:COMMAND}``.

The reference is written in untrusted Git, but what it may reach is the
operator's decision (``Policy``): environment variables matching
``secret_env`` (any when unset), files under ``secret_roots`` (none unless
listed), commands only when ``secret_commands`` is on. The permission is
checked before anything is read or run, so ``validate`` and ``plan`` of a
pull request touch nothing the operator did not allow.

Every value comes back ``Sensitive`` and never leaves this module in plain
form: messages name the reference (the variable, the path as written, the
command's name), never what it read. Each distinct reference is resolved
once per ``SecretCache`` (one per stack render): a command is not run once
per resource or per ``count`` instance, and its failure is reported from the
cache too. I/O: reads environment variables and files, runs commands.
"""

from __future__ import annotations

import os
import shlex
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from driftless.errors import Problem
from driftless.model import Sensitive
from driftless.model.policy import ENV_SECRET_ENV, Policy, limit_hint
from driftless.render.files import os_reason, read_fd
from driftless.render.inputs import not_cacheable
from driftless.render.suggest import did_you_mean

if TYPE_CHECKING:  # a command runs only for secret.cmd: a render without one spawns nothing
    import subprocess

__all__ = [
    "COMMAND_TIMEOUT",
    "KINDS",
    "SecretCache",
    "SecretRefError",
    "resolve_secret",
]

KINDS = ("env", "file", "cmd")
COMMAND_TIMEOUT = 30.0  # seconds a secret command may take
_STDERR_KEPT = 64 * 1024  # the tail of a failing command's stderr kept for its last line
_STDERR_SHOWN = 200  # characters of that line a message quotes
_SHOWN = 160  # characters of a path or command name a message quotes
_MIN_MASKED = 4  # shorter output lines are not searched for in stderr
_FILES_HINT = ("the operator allows a directory with --allow-secret-files DIR, "
               "DRIFTLESS_SECRET_FILES=DIR or 'secrets: {files: [DIR]}' in the agent config; "
               "a repository cannot")
_CMD_HINT = ("the operator allows them with --allow-secret-commands, "
             "DRIFTLESS_SECRET_COMMANDS=1 or 'secrets: {commands: true}' in the agent config; "
             "a repository cannot")


class SecretRefError(ValueError):
    """A reference that cannot be resolved; the message never holds the secret."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class SecretCache:
    """What each reference resolved to (or how it failed) in one stack render.

    Shared by every copy of the render's ``Scope``; a lock keeps two threads
    evaluating deferred values from running one command twice.
    """

    def __init__(self, *, on_missing: Callable[[Problem], None] | None = None) -> None:
        self._done: dict[tuple[str, str], Sensitive | SecretRefError] = {}
        self._lock = threading.Lock()
        # validate and plan --no-secrets: a reference that cannot be resolved here
        # (CI holds no secrets) is a warning and a placeholder, not an error
        self.on_missing = on_missing
        self._reported: set[tuple[str, str]] = set()

    def missing(self, kind: str, arg: str, exc: SecretRefError) -> None:
        """Report once that ``secret.kind:arg`` is checked with a placeholder."""
        with self._lock:
            if (kind, arg) in self._reported or self.on_missing is None:
                return
            self._reported.add((kind, arg))
        self.on_missing(Problem(f"{exc}; checked with a placeholder", hint=(
            "the environment that applies must be able to resolve it")))

    def get(self, kind: str, arg: str, resolve: Callable[[], Sensitive]) -> Sensitive:
        """The cached result of ``secret.kind:arg``, resolving it the first time."""
        with self._lock:
            key = (kind, arg)
            if key not in self._done:
                try:
                    self._done[key] = resolve()
                except SecretRefError as exc:
                    self._done[key] = exc
            done = self._done[key]
        if isinstance(done, SecretRefError):
            raise SecretRefError(str(done), done.hint)
        return done

    def values(self) -> Iterator[tuple[str, Sensitive]]:
        """Each resolved reference (as written) and its value, for digests."""
        with self._lock:
            done = list(self._done.items())
        for (kind, arg), value in done:
            if isinstance(value, Sensitive):
                yield f"secret.{kind}:{arg}", value


def resolve_secret(kind: str, arg: str, policy: Policy, cwd: Path,
                   cache: SecretCache) -> Sensitive:
    """The value of ``secret.kind:arg`` under the operator's ``policy``, once per cache."""
    not_cacheable("a secret reference")  # a secret is never cached, and may change anytime
    if kind not in KINDS:
        raise SecretRefError(f"unknown secret reference 'secret.{kind}:'",
                             hint=did_you_mean(kind, KINDS)
                             or "write secret.env:NAME, secret.file:/PATH or secret.cmd:COMMAND")
    if kind == "env":
        return cache.get(kind, arg, lambda: _env(arg, policy))
    if kind == "file":
        return cache.get(kind, arg, lambda: _file(arg, policy))
    return cache.get(kind, arg, lambda: _cmd(arg, policy, cwd))


def _shown(text: str) -> str:
    """A path or name for a message, cut short (it comes from Git and may be long)."""
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


# The keys that protect state, digests and SOPS files: a repository may not read them
# unless the operator names them in --secret-env (a plan could otherwise copy the
# key that decrypts state into a file the same repository ships somewhere).
_KEY_VARIABLES = ("DRIFTLESS_STATE_KEY*", "DRIFTLESS_STATE_FALLBACK_KEY*",
                  "DRIFTLESS_DIGEST_KEY*", "SOPS_AGE_KEY*", "AWS_SECRET_ACCESS_KEY",
                  "AWS_SESSION_TOKEN")


def _env(name: str, policy: Policy) -> Sensitive:
    """An environment variable, if its name matches the operator's patterns."""
    if not name or "=" in name or "\0" in name or any(c.isspace() for c in name):
        raise SecretRefError(f"secret.env: '{_shown(name)}' is not an environment variable name")
    guarded = policy.secret_env is None and any(fnmatchcase(name, p) for p in _KEY_VARIABLES)
    if guarded or (policy.secret_env is not None
                   and not any(fnmatchcase(name, p) for p in policy.secret_env)):
        allowed = ("any but the keys driftless and SOPS use" if policy.secret_env is None
                   else ", ".join(policy.secret_env) or "none")
        raise SecretRefError(
            f"secret.env: the operator does not allow reading environment variable {name} "
            f"(allowed: {_shown(allowed)})",
            hint=f"the operator allows more with --secret-env PATTERN, {ENV_SECRET_ENV}="
                 "PATTERN:... or 'secrets: {env: [PATTERN]}' in the agent config")
    value = os.environ.get(name)
    if value is None:
        raise SecretRefError(f"secret.env: environment variable {name} is not set",
                             hint="set it in the environment driftless runs in")
    return Sensitive(value)


def _file(text: str, policy: Policy) -> Sensitive:
    """A file's text under a secret root, after resolving symlinks; one newline stripped."""
    if not os.path.isabs(text):
        raise SecretRefError(f"secret.file: '{_shown(text)}' is not an absolute path",
                             hint="write secret.file:/PATH inside a directory the operator "
                                  "allowed for secret files")
    try:
        path = Path(text).resolve()
    except (OSError, ValueError, RuntimeError):  # NUL byte, name too long, symlink loop
        raise SecretRefError(f"secret.file: '{_shown(text)}' is not a usable path") from None
    if not policy.may_read_secret(path):
        raise SecretRefError(
            f"secret.file: '{_shown(text)}' is not inside a directory the operator allows "
            "secret files to be read from (symlinks resolved)", hint=_FILES_HINT)
    data = _read_regular(path, text, policy.limits.string_bytes)
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretRefError(f"secret.file: '{_shown(text)}' is not UTF-8 text") from None
    return Sensitive(_one_newline_less(value))


def _one_newline_less(text: str) -> str:
    """Files end with a newline that is not part of the secret; only one is dropped."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _read_regular(path: Path, text: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file: stat first, so a FIFO never blocks.

    ``O_NONBLOCK`` and ``O_NOFOLLOW`` keep a FIFO or symlink swapped in after
    the stat from blocking or redirecting the open; the inode check refuses it.
    """
    try:
        before = os.stat(path)
        _refuse_special(before, text, limit)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise SecretRefError(f"secret.file: cannot read '{_shown(text)}': {os_reason(exc)}") \
            from None
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise SecretRefError(f"secret.file: '{_shown(text)}' changed while being read")
        _refuse_special(now, text, limit)
        data = read_fd(fd, limit + 1)
    except OSError as exc:
        raise SecretRefError(f"secret.file: cannot read the file: {os_reason(exc)}") from None
    finally:
        os.close(fd)
    _refuse_size(len(data), text, limit)  # it grew after the stat
    return data


def _refuse_special(info: os.stat_result, text: str, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise SecretRefError(f"secret.file: '{_shown(text)}' is {what}; only regular files "
                             "can be read")
    _refuse_size(info.st_size, text, limit)


def _refuse_size(size: int, text: str, limit: int) -> None:
    if size > limit:
        raise SecretRefError(f"secret.file: '{_shown(text)}' has {size} bytes, over the limit "
                             f"string_bytes ({limit})", hint=limit_hint("string_bytes"))


def _cmd(line: str, policy: Policy, cwd: Path) -> Sensitive:
    """A command's standard output, trailing line breaks removed; only if the operator allows."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise SecretRefError(f"secret.cmd: cannot split the command: {str(exc).lower()}") \
            from None
    if not argv:
        raise SecretRefError("secret.cmd: the command is empty")
    if not policy.secret_commands:
        raise SecretRefError(
            f"secret.cmd: '{_shown(argv[0])}' was not run: the operator has not allowed "
            "secret commands", hint=_CMD_HINT)
    out = _run(argv, cwd, policy.limits.string_bytes)
    try:
        value = out.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretRefError(f"secret.cmd: the output of '{_shown(argv[0])}' is not UTF-8 "
                             "text") from None
    return Sensitive(value.rstrip("\r\n"))


def _run(argv: list[str], cwd: Path, limit: int) -> bytes:
    """Run ``argv`` (no shell, no stdin) in its own process group; its stdout on success.

    The output is read as it comes, so more than ``limit`` bytes or more than
    ``COMMAND_TIMEOUT`` seconds stop the whole group instead of filling memory.
    """
    import subprocess

    name = _shown(argv[0])
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except FileNotFoundError:
        raise SecretRefError(f"secret.cmd: command '{name}' not found") from None
    except OSError as exc:
        raise SecretRefError(f"secret.cmd: cannot run '{name}': {os_reason(exc)}") from None
    deadline = time.monotonic() + COMMAND_TIMEOUT
    try:
        out, err = _drain(proc, limit, deadline, name)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired:
        _stop(proc)  # not reaped yet: its group id cannot belong to anyone else
        raise _timeout(name) from None
    except BaseException:
        _stop(proc)
        raise
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if code != 0:
        raise SecretRefError(_failed(name, code, err, out))
    return out


def _drain(proc: subprocess.Popen[bytes], limit: int, deadline: float,
           name: str) -> tuple[bytes, bytes]:
    """Read stdout (at most ``limit`` bytes) and stderr's tail until both close."""
    import selectors

    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as sel:
        for pipe, buf in ((proc.stdout, out), (proc.stderr, err)):
            if pipe is not None:
                sel.register(pipe, selectors.EVENT_READ, buf)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise _timeout(name)
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                if key.data is out and len(out) > limit:
                    raise SecretRefError(
                        f"secret.cmd: the output of '{name}' is over the limit string_bytes "
                        f"({limit})", hint=limit_hint("string_bytes"))
                if key.data is err and len(err) > _STDERR_KEPT:
                    del err[:-_STDERR_KEPT]
    return bytes(out), bytes(err)


def _timeout(name: str) -> SecretRefError:
    return SecretRefError(f"secret.cmd: '{name}' did not finish within "
                          f"{COMMAND_TIMEOUT:g} seconds")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and whatever it started, then reap it."""
    import signal

    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _failed(name: str, code: int, err: bytes, out: bytes) -> str:
    """Why the command failed: its status and stderr's last line, never its stdout.

    A failing command may still have printed (part of) the secret, on either
    stream: every stdout line is masked out of the quoted stderr line.
    """
    status = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return f"secret.cmd: '{name}' {status}"
    last = lines[-1].strip()
    printed = out.decode("utf-8", "replace")
    for secret in sorted({printed.strip(), *printed.splitlines()}, key=len, reverse=True):
        if len(secret.strip()) >= _MIN_MASKED:
            last = last.replace(secret.strip(), "(sensitive)")
    if len(last) > _STDERR_SHOWN:
        last = last[:_STDERR_SHOWN] + "..."
    return f"secret.cmd: '{name}' {status}: {last}"
