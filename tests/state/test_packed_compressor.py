"""Which deflate packs a state row: ISA-L's when ``isal`` imports, zlib's otherwise.

Both must make documents that ``unpack`` (zlib, with the format's dictionary)
reads back to the very text; the helper process that packs rows for the
journal must make the same bytes as this process with either; and a helper
that cannot import the compressor it is told to use ends, so that the apply
packs those rows itself.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftless.model.helper_client import HelperGone, HelperProcess
from driftless.state import packed
from driftless.state.packed import MAGIC, pack, packer_hello, unpack
from driftless.state.sqlite_journal import dumps

ROW = dumps({"address": "local:file/f[7]", "attributes": {"path": "/srv/app/f7.txt",
             "sha256": "ab" * 32, "size": 1001, "type": "file", "mode": "0644"},
             "private": {"digest": "ab" * 32, "ino": 12345, "mtime_ns": 1796681598295872144},
             "inputs": {"content": {"$sha256": "ab" * 32}, "path": "/srv/app/f7.txt"},
             "protect": False, "depends_on": []})


@pytest.fixture
def without_isal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as if ``isal`` were not installed."""
    monkeypatch.setitem(sys.modules, "isal", None)  # ``import isal`` raises ImportError
    packed._isal.cache_clear()
    packed._compressor.cache_clear()
    yield
    packed._isal.cache_clear()
    packed._compressor.cache_clear()


def _helper_packs(docs: list[str]) -> list[bytes]:
    helper = HelperProcess.start("pack")
    assert helper is not None
    try:
        helper.send(packer_hello())
        helper.send([json.loads(d) for d in docs])
        got: list[bytes] = helper.receive(len(docs))
    finally:
        helper.close()
    return got


def test_isal_packs_rows_when_installed_and_zlib_reads_them() -> None:
    row = pack(ROW)  # isal is a dependency: installed wherever driftless is
    assert packer_hello()[0] == "isal.isal_zlib"
    assert row.startswith(MAGIC) and unpack(row) == ROW
    zlib_made = packed._PRIMED.copy()
    assert row != MAGIC + zlib_made.compress(ROW.encode()) + zlib_made.flush()
    assert _helper_packs([ROW]) == [row]


def test_without_isal_rows_are_packed_by_zlib(without_isal: None) -> None:
    hello = packer_hello()
    assert hello[:2] == ("zlib", None)
    row = pack(ROW)
    zlib_made = packed._PRIMED.copy()
    assert row == MAGIC + zlib_made.compress(ROW.encode()) + zlib_made.flush()
    assert unpack(row) == ROW
    assert _helper_packs([ROW]) == [row]


def test_a_helper_that_cannot_import_its_compressor_ends(tmp_path: Path) -> None:
    """Told to use ISA-L from a directory without it (another environment's path),
    the helper ends at once: its client sees it gone and packs inline."""
    hello = packer_hello()
    helper = HelperProcess.start("pack")
    assert helper is not None
    try:
        helper.send(("isal.isal_zlib", str(tmp_path), *hello[2:]))
        with pytest.raises(HelperGone):
            helper.send([json.loads(ROW)])
            helper.receive(1)
    finally:
        helper.close()
