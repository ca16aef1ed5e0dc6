"""A plan learns that files under a missing directory are not there from one look at
the directory (``providers.local.absent``), and finds exactly what reading each
file would have found."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from driftless.model import Action, Resource, ResourceId
from driftless.providers import ProviderSet
from driftless.providers.local import LocalProvider
from driftless.providers.local.absent import absent
from driftless.providers.local.files import NOTHING_WHEN_MISSING, ContentFileHandler
from engine_helpers import engine, file_res, stack


def _file(path: str | Any, name: str = "f", kind: str = "file") -> Resource:
    return Resource(ResourceId("local", kind, name), {"path": path, "content": "x"})


def _provider() -> LocalProvider:
    provider = ProviderSet().get("local")
    assert isinstance(provider, LocalProvider)
    return provider


def test_paths_under_a_missing_directory_are_absent_and_nothing_else_is(tmp_path: Path) -> None:
    (tmp_path / "there").mkdir()
    (tmp_path / "plain").write_text("a file where a directory would be")
    (tmp_path / "there" / "exists.txt").write_text("x")
    resources = [
        _file(str(tmp_path / "gone" / "a.txt"), "a"),
        _file(str(tmp_path / "gone" / "deeper" / "b.txt"), "b"),
        _file(str(tmp_path / "plain" / "c.txt"), "c"),  # lstat: not a directory
        _file(str(tmp_path / "there" / "d.txt"), "d"),  # directory there: read it
        _file(str(tmp_path / "there" / "exists.txt"), "e"),
        _file("relative.txt", "r"),  # no directory to look at
        _file(None, "n"),  # a value not known yet
        _file(str(tmp_path / "gone" / "t.txt"), "t", kind="template"),
        _file(str(tmp_path / "gone" / "s"), "s", kind="symlink"),
        _file(str(tmp_path / "gone" / "dir"), "dd", kind="directory"),
        _file(str(tmp_path / "gone" / "x"), "x", kind="no_such_kind"),
    ]
    found = _provider().absent_among(resources)
    assert {rid.name for rid in found} == {"a", "b", "c", "t", "s", "dd"}
    for res in resources:  # each such answer is what the kind's own lstat finds
        if res.id in found:
            with pytest.raises((FileNotFoundError, NotADirectoryError)):
                os.lstat(res.properties["path"])


def test_a_kind_with_a_read_of_its_own_takes_no_part(tmp_path: Path) -> None:
    class Reads(ContentFileHandler):
        def read(self, resource: Resource, prior: Any) -> Any:
            return None

    res = _file(str(tmp_path / "gone" / "a.txt"))
    assert absent([res], lambda rid: Reads.read, NOTHING_WHEN_MISSING) == set()
    assert absent([res], lambda rid: ContentFileHandler.read, NOTHING_WHEN_MISSING) == {res.id}


def test_a_first_plan_under_a_new_directory_looks_at_it_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    files = [file_res(out / f"f{i}.txt", f"{i}") for i in range(50)]
    eng = engine(tmp_path)
    looked: list[str] = []
    real = os.lstat

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).startswith(str(out)):
            looked.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "lstat", counting)
    plan = eng.plan(stack("s", files))
    assert looked == [str(out)]
    assert [c.action for c in plan.changes] == [Action.CREATE] * 50
    assert {c.reason for c in plan.changes} == {"does not exist yet"}


def test_a_file_that_appeared_in_an_existing_directory_is_still_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "f1.txt").write_text("someone else's")
    eng = engine(tmp_path)
    plan = eng.plan(stack("s", [file_res(out / "f0.txt", "0"), file_res(out / "f1.txt", "1")]))
    by_name = {c.id.name: c for c in plan.changes}
    assert by_name["f0_txt"].action is Action.CREATE
    assert by_name["f1_txt"].unmanaged and by_name["f1_txt"].refused
