"""``model.filemap.mapped``: cache files are read through a read-only map, and only
regular files (no symlinks, not empty, not too big) are."""

from __future__ import annotations

import os
from pathlib import Path

from driftless.model.filemap import mapped


def test_a_regular_file_is_seen_whole_and_unmapped_after(tmp_path: Path) -> None:
    path = tmp_path / "entry.bin"
    path.write_bytes(b"driftless" * 1000)
    with mapped(path, most=1 << 20) as view:
        assert view is not None and view.readonly
        assert bytes(view[:9]) == b"driftless" and len(view) == 9000
        head = view[:4]  # a slice still held when the block ends
    assert bytes(head) == b"drif"  # the map stays valid until the slice goes


def test_what_is_not_mapped(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 100)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    link = tmp_path / "link"
    os.symlink(big, link)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, most in ((big, 99), (empty, 10), (link, 1000), (fifo, 1000),
                       (tmp_path / "missing", 1000), (tmp_path, 1000)):
        with mapped(path, most=most) as view:
            assert view is None, path
