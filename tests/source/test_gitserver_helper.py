"""The test git HTTP server: clone, push, fetch, outage and recovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitserver import GitHttpServer, Workdir, git, git_http_server, git_server, init_bare

__all__ = ["git_server"]


def test_push_then_clone_sees_the_commit(tmp_path: Path) -> None:
    init_bare(tmp_path / "srv", "app.git")
    with git_http_server(tmp_path / "srv") as base:
        writer = Workdir.clone(f"{base}/app.git", tmp_path / "a")
        writer.write({"app.yaml": "replicas: 2\n"}).commit("first").push()
        reader = Workdir.clone(f"{base}/app.git", tmp_path / "b")
        assert (reader.path / "app.yaml").read_text() == "replicas: 2\n"
        assert reader.head() == writer.head()


def test_large_push_uses_chunked_body(git_server: GitHttpServer, tmp_path: Path) -> None:
    init_bare(git_server.repos_root, "big.git")
    writer = Workdir.clone(f"{git_server.url}/big.git", tmp_path / "a")
    (writer.path / "blob.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB > postBuffer
    writer.write({"x": "y"})
    git("-c", "core.compression=0", "add", "-A", cwd=writer.path)
    writer.commit("big").push()
    out = git("ls-remote", f"{git_server.url}/big.git", "refs/heads/main")
    assert out.split()[0] == writer.head()


def test_stop_refuses_and_start_recovers_on_same_port(
    git_server: GitHttpServer, tmp_path: Path
) -> None:
    init_bare(git_server.repos_root, "app.git")
    Workdir.clone(f"{git_server.url}/app.git", tmp_path / "a").commit("c1").push()
    url, port = f"{git_server.url}/app.git", git_server.port
    git_server.stop()
    with pytest.raises(RuntimeError, match="ls-remote"):
        git("ls-remote", url)
    git_server.start()
    assert git_server.port == port
    assert "refs/heads/main" in git("ls-remote", url)
