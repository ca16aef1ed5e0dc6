"""State rows packed by a helper process (``pack`` job of ``model.helper``) for the journal:
the very bytes ``pack`` makes in this process, and a large apply journaled through it
ends in the same state as one packed inline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from driftless.apply import runner
from driftless.model import Outcome, Resource, ResourceId, helper_client
from driftless.model.helper_client import HelperProcess
from driftless.state.packed import MAGIC, pack, packer_hello, unpack
from driftless.state.sqlite_journal import dumps
from engine_helpers import engine, stack


def _docs() -> list[Any]:
    return [
        {"address": "local:file/f[0]", "attributes": {"path": "/srv/ü\n\"x\"", "size": 10**30},
         "private": {"seen_ns": 1796624618595556821, "ratio": 0.1, "neg": -2.5e-300},
         "inputs": {"content": {"$sha256": "ab" * 32}, "list": [1, [2, None], True]},
         "protect": False, "depends_on": ["local:file/g"]},
        {"address": "aws:s3.Bucket/b", "attributes": {}, "private": {}, "inputs": {},
         "protect": True, "depends_on": []},
        None,
        {"address": "x", "attributes": {"\u2028": "\ud83d\ude00 emoji \x00 nul"}, "private": {},
         "inputs": {"t": (1, 2)}, "protect": False, "depends_on": []},
    ]


def test_the_helper_packs_each_row_to_the_bytes_pack_makes_here() -> None:
    helper = HelperProcess.start("pack")
    assert helper is not None
    try:
        helper.send(packer_hello())
        helper.send(_docs())
        packed = helper.receive(4)
    finally:
        helper.close()
    for doc, row in zip(_docs(), packed, strict=True):
        if doc is None:
            assert row is None
            continue
        assert row == pack(dumps(doc))
        assert row.startswith(MAGIC) and json.loads(unpack(row)) == json.loads(dumps(doc))


def _files(root: Path, n: int) -> list[Resource]:
    return [Resource(ResourceId("local", "file", "f", i),
                     {"path": str(root / f"f{i}.txt"), "content": f"{i} " + "x" * 200,
                      "make_parents": True}) for i in range(n)]


def _stored(tmp: Path, n: int, monkeypatch: pytest.MonkeyPatch, *, helpers: bool) -> Any:
    monkeypatch.setenv(helper_client.DISABLE_ENV, "1" if helpers else "0")
    eng = engine(tmp)
    desired = stack("s", _files(tmp / "out", n))
    report = eng.apply(eng.plan(desired), desired)
    assert report.ok and all(r.outcome is Outcome.APPLIED for r in report.results)
    assert not eng.plan(desired).has_changes()
    return {str(rid): (dict(rs.attributes), dict(rs.inputs))
            for rid, rs in eng.backend.read("s").resources.items()}


def test_a_large_apply_journaled_through_the_helper_is_the_inline_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs: list[str] = []
    real = HelperProcess.start

    def counted(job: str, *args: str) -> Any:
        found = real(job, *args)
        if found is not None:
            jobs.append(job)
        return found

    monkeypatch.setattr(HelperProcess, "start", staticmethod(counted))
    n = runner.PACK_MIN + 300
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    through = _stored(tmp_path / "a", n, monkeypatch, helpers=True)
    assert jobs.count("pack") == 1
    inline = _stored(tmp_path / "b", n, monkeypatch, helpers=False)
    assert jobs.count("pack") == 1

    def norm(rows: dict[str, Any], root: Path) -> str:
        return json.dumps(rows, sort_keys=True).replace(str(root), "<root>")

    assert norm(through, tmp_path / "a") == norm(inline, tmp_path / "b")


def test_a_helper_that_dies_leaves_every_outcome_journaled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_receive = HelperProcess.receive

    def die(self: HelperProcess, count: int | None = None) -> Any:
        if count is not None and count == runner.FINISH_EVERY:
            import os
            import signal

            os.kill(self.pid, signal.SIGKILL)
        return real_receive(self, count)

    monkeypatch.setattr(HelperProcess, "receive", die)
    rows = _stored(tmp_path, runner.PACK_MIN + 500, monkeypatch, helpers=True)
    assert len(rows) == runner.PACK_MIN + 500


def test_groups_the_helper_is_behind_on_are_packed_here_to_the_same_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper that has not answered the group before yet gets no more groups: the
    runner packs and journals them itself, to the very rows the helper makes."""
    sent: list[int] = []
    real_send = HelperProcess.send

    def counting(self: HelperProcess, request: Any) -> None:
        if isinstance(request, list):
            sent.append(len(request))
        real_send(self, request)

    monkeypatch.setattr(HelperProcess, "send", counting)
    monkeypatch.setattr(HelperProcess, "answered", lambda self: False)  # always behind
    n = runner.PACK_MIN + 1500
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    behind = _stored(tmp_path / "a", n, monkeypatch, helpers=True)
    assert sent.count(runner.FINISH_EVERY) == 1  # the first group only; the rest packed here
    inline = _stored(tmp_path / "b", n, monkeypatch, helpers=False)
    assert json.dumps(behind, sort_keys=True).replace(str(tmp_path / "a"), "<r>") == \
        json.dumps(inline, sort_keys=True).replace(str(tmp_path / "b"), "<r>")
