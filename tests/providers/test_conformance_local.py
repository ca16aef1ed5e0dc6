"""The provider conformance suite over one case per local kind (real files, git, HTTP)."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from driftless.model import Resource, ResourceId, Sensitive
from driftless.providers.local import LocalProvider
from driftless.providers.testing import ConformanceCase, ConformanceFailure, check_provider


def _res(kind: str, **props: Any) -> Resource:
    return Resource(ResourceId("local", kind, "conf"), props)


def _file(tmp: Path) -> ConformanceCase:
    path = str(tmp / "motd")
    return ConformanceCase(_res("file", path=path, content="hello\n", mode="0644"),
                           _res("file", path=path, content="bye\n", mode="0600"), path)


def _secret_file(tmp: Path) -> ConformanceCase:
    path = str(tmp / "token")
    return ConformanceCase(_res("file", path=path, content=Sensitive("s3cret")),
                           _res("file", path=path, content=Sensitive("other")), path)


def _directory(tmp: Path) -> ConformanceCase:
    path = str(tmp / "d")
    return ConformanceCase(_res("directory", path=path, mode="0755"),
                           _res("directory", path=path, mode="0700"), path)


def _symlink(tmp: Path) -> ConformanceCase:
    path = str(tmp / "current")
    return ConformanceCase(_res("symlink", path=path, target="/etc/hostname"),
                           _res("symlink", path=path, target="/etc/hosts"), path)


def _command(tmp: Path) -> ConformanceCase:
    out = tmp / "ran"
    cmd = f"echo run >> {out}"
    return ConformanceCase(_res("command", command=cmd, triggers={"v": 1}),
                           _res("command", command=cmd, triggers={"v": 2}), None)


def _template(tmp: Path) -> ConformanceCase:
    path = str(tmp / "app.conf")
    text = "port={{ port }}\npassword={{ pw }}\n"
    return ConformanceCase(
        _res("template", path=path, template=text, vars={"port": 80, "pw": Sensitive("a")}),
        _res("template", path=path, template=text, vars={"port": 81, "pw": Sensitive("a")}), path)


def _env_file(tmp: Path) -> ConformanceCase:
    path = str(tmp / "app.env")
    return ConformanceCase(
        _res("env_file", path=path, values={"A": "1", "SECRET": Sensitive("x y$z")}),
        _res("env_file", path=path, values={"A": "1", "SECRET": Sensitive("new")}), path)


def _git(*args: str, cwd: Path) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _git_checkout(tmp: Path) -> ConformanceCase:
    repo = tmp / "repo"
    repo.mkdir()
    _git("init", "-q", "-b", "main", cwd=repo)
    for tag in ("v1", "v2"):
        (repo / "VERSION").write_text(tag)
        _git("add", "VERSION", cwd=repo)
        _git("commit", "-q", "-m", tag, cwd=repo)
        _git("tag", tag, cwd=repo)
    path = str(tmp / "checkout")
    return ConformanceCase(_res("git_checkout", repo=str(repo), ref="v1", path=path),
                           _res("git_checkout", repo=str(repo), ref="v2", path=path), path)


def _download(tmp: Path) -> ConformanceCase:
    a, b = tmp / "a.bin", tmp / "b.bin"
    a.write_bytes(b"first")
    b.write_bytes(b"second")
    path = str(tmp / "out" / "tool")
    return ConformanceCase(
        _res("download", url=a.as_uri(), path=path, make_parents=True,
             sha256=hashlib.sha256(b"first").hexdigest()),
        _res("download", url=b.as_uri(), path=path, mode="0755",
             sha256=hashlib.sha256(b"second").hexdigest()), path)


def _marker(tmp: Path) -> ConformanceCase:
    first, second = tmp / "setup.done", tmp / "other.done"
    second.touch()
    timer = threading.Timer(0.3, first.touch)
    timer.start()
    return ConformanceCase(
        _res("marker_wait", path=str(first), timeout=10, interval=0.05),
        _res("marker_wait", path=str(second), timeout=10, interval=0.05), str(second),
        cleanup=timer.cancel, owns_object=False)


CASES: dict[str, Callable[[Path], ConformanceCase]] = {
    "file": _file,
    "file-sensitive": _secret_file,
    "directory": _directory,
    "symlink": _symlink,
    "command": _command,
    "template": _template,
    "env_file": _env_file,
    "git_checkout": _git_checkout,
    "download": _download,
    "marker_wait": _marker,
}


@pytest.mark.parametrize("make", CASES.values(), ids=list(CASES))
def test_local_kind_passes_conformance(
    tmp_path: Path, make: Callable[[Path], ConformanceCase]
) -> None:
    check_provider(LocalProvider(), [make(tmp_path)])


def test_conformance_names_case_and_step_on_failure(tmp_path: Path) -> None:
    path = str(tmp_path / "same")
    same = _res("file", path=path, content="x")
    with pytest.raises(ConformanceFailure, match=r"local:file/conf: diff to updated: expected"):
        check_provider(LocalProvider(), [ConformanceCase(same, same, path)])


def test_conformance_runs_cleanup_even_on_failure(tmp_path: Path) -> None:
    ran: list[bool] = []
    bad = _res("file", path=str(tmp_path / "f"), nonsense=1)
    with pytest.raises(ConformanceFailure, match="schema rejects"):
        check_provider(LocalProvider(), [ConformanceCase(bad, bad, None, lambda: ran.append(True))])
    assert ran == [True]
