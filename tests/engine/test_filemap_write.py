"""``model.filemap.write_private``: temp file + rename, and nothing left behind
when the write fails, whatever the failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from driftless.model.filemap import write_private


def test_a_chunk_producer_that_raises_leaves_no_temp_file(tmp_path: Path) -> None:
    where = tmp_path / "cache"
    where.mkdir()

    def chunks() -> Iterator[bytes]:
        yield b"first part"
        raise ValueError("unmarshallable object")

    with pytest.raises(ValueError):
        write_private(where / "entry", chunks())
    assert list(where.iterdir()) == []  # neither the entry nor its temp file


def test_a_write_replaces_the_file_whole_with_mode_0600(tmp_path: Path) -> None:
    where = tmp_path / "cache"
    where.mkdir()
    (where / "entry").write_bytes(b"old")
    assert write_private(where / "entry", [b"new ", b"bytes"])
    assert (where / "entry").read_bytes() == b"new bytes"
    assert (where / "entry").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in where.iterdir()] == ["entry"]
