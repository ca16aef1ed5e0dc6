"""Credentials reach git only through the environment and never reach messages."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftless.errors import SourceError
from driftless.source import GitSource, SourceSpec, redact_url
from gitserver import GitHttpServer, Workdir, git, init_bare

TOKEN = "s3cr3t-t0ken-value"


@pytest.fixture
def private(tmp_path: Path) -> Iterator[tuple[GitHttpServer, str, str]]:
    """A server that wants bot:TOKEN; returns (server, clean url, head)."""
    bare = init_bare(tmp_path / "git", "private.git")
    wd = Workdir.init(tmp_path / "wd").write({"a.yaml": "a: 1\n"}).commit("one")
    git("push", "-q", str(bare), "HEAD:refs/heads/main", cwd=wd.path)
    server = GitHttpServer(tmp_path / "git", auth=("bot", TOKEN)).start()
    yield server, f"{server.url}/private.git", wd.head()
    server.stop()


def fetch(url: str, tmp_path: Path, env: dict[str, str], **kw: str) -> str:
    spec = SourceSpec(url=url, **kw)
    return GitSource(spec, cache_dir=tmp_path / "cache", environ=env).fetch().revision


def test_token_from_environment(private: tuple[GitHttpServer, str, str], tmp_path: Path) -> None:
    _, url, head = private
    env = {"DRIFTLESS_GIT_TOKEN": TOKEN, "DRIFTLESS_GIT_USERNAME": "bot"}
    assert fetch(url, tmp_path, env) == head


def test_token_from_file(private: tuple[GitHttpServer, str, str], tmp_path: Path) -> None:
    _, url, head = private
    creds = tmp_path / "git-creds"
    creds.write_text(f"bot:{TOKEN}\n")
    assert fetch(url, tmp_path, {}, credentials_file=str(creds)) == head


def test_userinfo_in_url_works_and_is_redacted(
    private: tuple[GitHttpServer, str, str], tmp_path: Path
) -> None:
    _, url, head = private
    with_creds = url.replace("http://", f"http://bot:{TOKEN}@")
    assert fetch(with_creds, tmp_path, {}) == head
    assert TOKEN not in SourceSpec(url=with_creds).display_url
    assert redact_url(with_creds) == url.replace("http://", "http://***@")


def test_missing_credentials_is_source_error_with_hint(
    private: tuple[GitHttpServer, str, str], tmp_path: Path
) -> None:
    _, url, _ = private
    with pytest.raises(SourceError) as info:
        fetch(url, tmp_path, {})
    assert url in str(info.value)
    assert "DRIFTLESS_GIT_TOKEN" in (info.value.hint or "")


@pytest.mark.parametrize("how", ["url", "env", "file"])
def test_secret_never_in_error_text(
    private: tuple[GitHttpServer, str, str], tmp_path: Path, how: str
) -> None:
    server, url, _ = private
    bad = TOKEN + "-wrong"
    creds = tmp_path / "creds"
    creds.write_text(f"bot:{bad}")
    spec_url = url.replace("http://", f"http://bot:{bad}@") if how == "url" else url
    env = {"DRIFTLESS_GIT_TOKEN": bad} if how == "env" else {}
    kw = {"credentials_file": str(creds)} if how == "file" else {}
    for _attempt in ("refused", "down"):
        with pytest.raises(SourceError) as info:
            fetch(spec_url, tmp_path, env, **kw)
        text = f"{info.value} {info.value.hint} {info.value!r}"
        assert TOKEN not in text
        assert "cannot fetch" in text
        server.stop()


def test_secret_never_on_git_command_line(
    private: tuple[GitHttpServer, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrap the real git to log its argv: the token must travel in the environment."""
    real_git = shutil.which("git")
    bindir, log = tmp_path / "bin", tmp_path / "argv.log"
    bindir.mkdir()
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real_git} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    _, url, head = private
    assert fetch(url.replace("http://", f"http://bot:{TOKEN}@"), tmp_path, {}) == head
    argv = log.read_text()
    assert "ls-remote" in argv
    assert "fetch" in argv
    assert TOKEN not in argv
    assert base64.b64encode(f"bot:{TOKEN}".encode()).decode() not in argv
