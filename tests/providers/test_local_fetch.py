"""local:git_checkout, download and marker_wait against real git repos and HTTP."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import ProviderError
from driftless.model import Action, LiveResource, Resource, ResourceId
from driftless.providers.local import LocalProvider


def _res(kind: str, **props: Any) -> Resource:
    return Resource(ResourceId("local", kind, "it"), props)


def _apply(p: LocalProvider, r: Resource, prior: LiveResource | None = None) -> LiveResource:
    live = p.apply(p.diff(r, p.read(r, prior)))
    assert live is not None
    return live


def _git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _commit(repo: Path, text: str) -> str:
    (repo / "VERSION").write_text(text)
    _git("add", "VERSION", cwd=repo)
    _git("commit", "-q", "-m", text, cwd=repo)
    return _git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    _git("init", "-q", "-b", "main", cwd=path)
    _commit(path, "one")
    return path


def test_checkout_follows_branch_moves_and_pins_commits(tmp_path: Path, repo: Path) -> None:
    p, dest = LocalProvider(), tmp_path / "co"
    r = _res("git_checkout", repo=str(repo), ref="main", path=str(dest))
    live = _apply(p, r)
    first = _git("rev-parse", "HEAD", cwd=repo)
    assert live.attributes["commit"] == first and (dest / "VERSION").read_text() == "one"
    assert p.diff(r, p.read(r, live)).action is Action.NOOP
    second = _commit(repo, "two")
    change = p.diff(r, p.read(r, live))
    assert change.action is Action.UPDATE and change.diffs[-1].after == second
    live = p.apply(change) or live
    assert (dest / "VERSION").read_text() == "two"
    pinned = _res("git_checkout", repo=str(repo), ref=first, path=str(dest))
    live = _apply(p, pinned, live)
    assert live.attributes["commit"] == first and (dest / "VERSION").read_text() == "one"


def test_unknown_ref_is_clear_and_leaves_nothing(tmp_path: Path, repo: Path) -> None:
    p, dest = LocalProvider(), tmp_path / "co"
    r = _res("git_checkout", repo=str(repo), ref="no-such-branch", path=str(dest))
    with pytest.raises(ProviderError, match=r"local:git_checkout/it: unknown ref 'no-such-branch'"):
        p.apply(p.diff(r, None))
    assert sorted(os.listdir(tmp_path)) == ["_home", "repo"]


def test_unreachable_repo_is_retryable_and_leaves_nothing(tmp_path: Path) -> None:
    p, dest = LocalProvider(), tmp_path / "co"
    r = _res("git_checkout", repo=str(tmp_path / "missing"), ref="main", path=str(dest))
    with pytest.raises(ProviderError, match="cannot fetch") as err:
        p.apply(p.diff(r, None))
    assert err.value.retryable and not dest.exists()
    assert [n for n in os.listdir(tmp_path) if n.startswith(".co")] == []


def test_checkout_refuses_a_foreign_directory(tmp_path: Path, repo: Path) -> None:
    dest = tmp_path / "co"
    dest.mkdir()
    (dest / "mine").write_text("keep me")
    p = LocalProvider()
    r = _res("git_checkout", repo=str(repo), path=str(dest))
    with pytest.raises(ProviderError, match="exists and is not a git checkout"):
        p.apply(p.diff(r, None))
    assert (dest / "mine").read_text() == "keep me"


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str]
    files: dict[str, bytes]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {"hits": [], "files": {"/tool": b"tool-v1"}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_download_fetches_only_on_mismatch(tmp_path: Path,
                                           server: tuple[str, type[_Handler]]) -> None:
    base, handler = server
    p, dest = LocalProvider(), tmp_path / "tool"
    r = _res("download", url=f"{base}/tool", path=str(dest), mode="0755",
             sha256=hashlib.sha256(b"tool-v1").hexdigest())
    live = _apply(p, r)
    assert dest.read_bytes() == b"tool-v1" and oct(dest.stat().st_mode & 0o777) == "0o755"
    assert p.diff(r, p.read(r, live)).action is Action.NOOP and handler.hits == ["/tool"]
    dest.write_bytes(b"corrupted")
    p.apply(p.diff(r, p.read(r, live)))
    assert dest.read_bytes() == b"tool-v1" and len(handler.hits) == 2


def test_checksum_mismatch_names_both_digests_and_leaves_nothing(
        tmp_path: Path, server: tuple[str, type[_Handler]]) -> None:
    base, _ = server
    p, dest = LocalProvider(), tmp_path / "tool"
    want = "0" * 64
    r = _res("download", url=f"{base}/tool", path=str(dest), sha256=want)
    with pytest.raises(ProviderError) as err:
        p.apply(p.diff(r, None))
    msg = str(err.value)
    assert "local:download/it: checksum mismatch" in msg and want in msg
    assert hashlib.sha256(b"tool-v1").hexdigest() in msg
    assert sorted(os.listdir(tmp_path)) == ["_home"]


def test_http_404_and_refused_connection_are_clear(tmp_path: Path,
                                                   server: tuple[str, type[_Handler]]) -> None:
    base, _ = server
    p = LocalProvider()
    r = _res("download", url=f"{base}/nope", path=str(tmp_path / "x"), sha256="0" * 64)
    with pytest.raises(ProviderError, match=r"GET .*/nope returned HTTP 404"):
        p.apply(p.diff(r, None))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = _res("download", url=f"http://127.0.0.1:{port}/x", path=str(tmp_path / "x"),
                sha256="0" * 64)
    with pytest.raises(ProviderError, match="cannot download") as err:
        p.apply(p.diff(dead, None))
    assert err.value.retryable and sorted(os.listdir(tmp_path)) == ["_home"]


def test_bad_scheme_and_missing_file_url(tmp_path: Path) -> None:
    p = LocalProvider()
    r = _res("download", url="ftp://example.org/x", path=str(tmp_path / "x"), sha256="0" * 64)
    with pytest.raises(ProviderError, match="unsupported URL scheme 'ftp'"):
        p.apply(p.diff(r, None))
    r = _res("download", url=(tmp_path / "nope").as_uri(), path=str(tmp_path / "x"),
             sha256="0" * 64)
    with pytest.raises(ProviderError, match="cannot read file://"):
        p.apply(p.diff(r, None))
    assert sorted(os.listdir(tmp_path)) == ["_home"]


def test_marker_wait_times_out_naming_path_and_time(tmp_path: Path) -> None:
    p, marker = LocalProvider(), tmp_path / "setup.done"
    r = _res("marker_wait", path=str(marker), timeout=0.3, interval=0.05)
    assert p.read(r, None) is None
    with pytest.raises(ProviderError, match=r"marker .*setup.done did not appear within 0\.3"):
        p.apply(p.diff(r, None))
    marker.touch()
    live = _apply(p, r)
    assert live.attributes == {"path": str(marker), "present": True}


def test_failed_download_keeps_the_previous_file(tmp_path: Path,
                                                 server: tuple[str, type[_Handler]]) -> None:
    base, _ = server
    dest = tmp_path / "tool"
    dest.write_bytes(b"previous")
    p = LocalProvider()
    r = _res("download", url=f"{base}/tool", path=str(dest), sha256="1" * 64)
    change = p.diff(r, p.read(r, None))
    assert change.action is Action.UPDATE
    with pytest.raises(ProviderError, match="checksum mismatch"):
        p.apply(change)
    assert dest.read_bytes() == b"previous" and sorted(os.listdir(tmp_path)) == ["_home", "tool"]
