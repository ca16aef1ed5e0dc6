"""A real git smart-HTTP server for tests: ``git http-backend`` behind WSGI.

Tests import this module (``tests/`` is on ``sys.path`` because it holds the
root conftest) to serve bare repositories over http://127.0.0.1 on a free
port. Clone, fetch and push work (push is allowed because the CGI sees a
``REMOTE_USER``). ``GitHttpServer.stop()`` / ``start()`` simulate an outage
and recovery on the same port.

Typical use::

    from gitserver import GitHttpServer, git_http_server, init_bare, Workdir

    bare = init_bare(tmp_path / "srv", "app.git")
    with git_http_server(tmp_path / "srv") as base:      # "http://127.0.0.1:PORT"
        wd = Workdir.clone(f"{base}/app.git", tmp_path / "wd")
        wd.write({"stack.yaml": "a: 1\\n"}).commit("first").push()

    with GitHttpServer(tmp_path / "srv") as srv:          # outage control
        srv.stop(); ...; srv.start()

    from gitserver import git_server    # fixture: GitHttpServer over tmp_path/"git"

I/O: runs ``git`` subprocesses, binds a TCP port on 127.0.0.1, writes under
the given directories only.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

__all__ = ["GitHttpServer", "Workdir", "git", "git_http_server", "git_server", "init_bare"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def git(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run git with a fixed identity; return stdout; raise with stderr on failure."""
    ident = ["-c", "user.name=driftless-test", "-c", "user.email=test@driftless.invalid"]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        ["git", *ident, *args], cwd=cwd, env=full_env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def init_bare(repos_root: Path, name: str, *, branch: str = "main") -> Path:
    """Create an empty bare repository ``repos_root/name`` with a default branch."""
    path = repos_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--bare", "-b", branch, str(path))
    return path


class Workdir:
    """A non-bare clone to write, commit, tag and push from (chainable)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def clone(cls, url: str, path: Path) -> Workdir:
        git("clone", "-q", url, str(path))
        git("checkout", "-q", "-B", "main", cwd=path)
        return cls(path)

    @classmethod
    def init(cls, path: Path, *, branch: str = "main") -> Workdir:
        git("init", "-q", "-b", branch, str(path))
        return cls(path)

    def write(self, files: Mapping[str, str]) -> Workdir:
        for rel, text in files.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        return self

    def commit(self, message: str) -> Workdir:
        git("add", "-A", cwd=self.path)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.path)
        return self

    def tag(self, name: str) -> Workdir:
        git("tag", name, cwd=self.path)
        return self

    def push(self, refspec: str = "HEAD:refs/heads/main", *, tags: bool = True) -> Workdir:
        git("push", "-q", "-f", "origin", refspec, cwd=self.path)
        if tags:
            git("push", "-q", "origin", "--tags", cwd=self.path)
        return self

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.path).strip()


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read a request body; git sends packs over 1 MiB chunked."""
    stream = environ["wsgi.input"]
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        parts: list[bytes] = []
        while size := int(stream.readline().split(b";")[0], 16):
            parts.append(stream.read(size))
            stream.readline()
        stream.readline()
        return b"".join(parts)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return bytes(stream.read(length)) if length else b""


def _make_app(root: Path, auth: tuple[str, str] | None) -> WsgiApp:
    expected = "Basic " + base64.b64encode(":".join(auth).encode()).decode() if auth else None

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if expected is not None and environ.get("HTTP_AUTHORIZATION") != expected:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
            return [b"authentication required\n"]
        env = {k: v for k, v in environ.items() if isinstance(v, str) and k.isupper()}
        env.update(
            GIT_PROJECT_ROOT=str(root),
            GIT_HTTP_EXPORT_ALL="1",
            PATH=os.environ.get("PATH", "/usr/bin:/bin"),
            REMOTE_USER=environ.get("REMOTE_USER", "test"),  # enables receive-pack (push)
            GATEWAY_INTERFACE="CGI/1.1",
        )
        env.pop("CONTENT_LENGTH", None) if environ.get("HTTP_TRANSFER_ENCODING") else None
        body = _read_body(environ)
        env["CONTENT_LENGTH"] = str(len(body))
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\r\n") if line]
        status = next((v for k, v in headers if k.lower() == "status"), "200 OK")
        start_response(status, [(k, v) for k, v in headers if k.lower() != "status"])
        return [payload]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class GitHttpServer:
    """Serves every bare repo under ``repos_root`` at ``url``; can stop and restart.

    With ``auth=(user, password)`` every request needs that HTTP Basic login
    (401 otherwise), to test credentials handling.
    """

    def __init__(
        self, repos_root: Path, *, port: int = 0, auth: tuple[str, str] | None = None
    ) -> None:
        self.repos_root = Path(repos_root)
        self.auth = auth  # (user, password) every request must send as HTTP Basic
        self.port = port
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> GitHttpServer:
        """Start serving (again, on the same port after a ``stop``)."""
        if self._server is not None:
            return self
        server = make_server(
            "127.0.0.1",
            self.port,
            _make_app(self.repos_root, self.auth),
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        self.port = server.server_port
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port: clients then get 'connection refused'."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> GitHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def git_http_server(repos_root: Path) -> Iterator[str]:
    """Serve ``repos_root`` over smart HTTP; yield the base URL (no trailing slash)."""
    with GitHttpServer(repos_root) as server:
        yield server.url


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    """A running server over ``tmp_path/"git"`` (import this fixture into a test module)."""
    root = tmp_path / "git"
    root.mkdir()
    with GitHttpServer(root) as server:
        yield server
