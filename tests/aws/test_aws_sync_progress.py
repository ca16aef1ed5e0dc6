"""s3.Sync's upload progress: a real bar on a (fake) terminal, silence elsewhere."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from helpers import make_provider, res

from driftless.model import Action, Change
from driftless.providers.aws._progress import BIG_BYTES, ByteCallback, UploadBar
from driftless.providers.aws.s3_sync import SyncHandler

MB = 1024 * 1024


class _Tty(io.StringIO):
    """A stream that says it is a terminal, so the bar draws into it."""

    def isatty(self) -> bool:
        return True


class _Counting:
    """Wraps a factory; records what each batch announced and the bytes reported."""

    def __init__(self, inner: UploadBar) -> None:
        self.inner, self.seen, self.batches = inner, 0, list[tuple[int, int]]()
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, total_bytes: int, files: int, *,
                 label: str) -> Iterator[ByteCallback | None]:
        self.batches.append((total_bytes, files))
        with self.inner(total_bytes, files, label=label) as advance:
            if advance is None:
                yield None
                return

            def count(n: int) -> None:
                with self._lock:  # boto3 reports from several transfer threads
                    self.seen += n
                advance(n)
            yield count


def _tree(root: Path) -> int:
    (root / "shards").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"w" * (9 * MB))  # multipart at 5 MiB parts
    for i in range(3):
        (root / "shards" / f"{i}.txt").write_text(f"shard {i}\n" * 100)
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def _sync(endpoint: str, handler: SyncHandler, src: Path) -> None:
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="weights")
    r = res("s3.Sync", "model", {"bucket": "weights", "prefix": "v1", "source": str(src),
                                 "multipart_threshold_mb": 5})
    handler.create(Change(r.id, Action.CREATE, r, None))


def test_big_sync_on_a_terminal_reports_every_byte(aws_env: str, tmp_path: Path) -> None:
    total = _tree(tmp_path / "model")
    tty = _Tty()
    counting = _Counting(UploadBar(stream=tty, env={}))
    _sync(aws_env, SyncHandler(make_provider(aws_env).aws, progress=counting), tmp_path / "model")
    assert counting.batches == [(total, 4)]
    assert counting.seen == total
    assert "upload s3://weights/v1/" in tty.getvalue()


def test_no_bar_when_not_a_terminal(aws_env: str, tmp_path: Path,
                                    capfd: pytest.CaptureFixture[str]) -> None:
    _tree(tmp_path / "model")
    # Under capfd stderr is a pipe, not a terminal: the default bar must stay silent.
    _sync(aws_env, SyncHandler(make_provider(aws_env).aws), tmp_path / "model")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


@pytest.mark.parametrize(("size", "files", "env", "drawn"), [
    (BIG_BYTES + 1, 1, {}, True),
    (10, 21, {}, True),
    (BIG_BYTES, 20, {}, False),                            # small batch
    (BIG_BYTES + 1, 1, {"DRIFTLESS_QUIET": "1"}, False),   # --json style quiet
])
def test_bar_only_for_big_batches_and_not_quiet(size: int, files: int, env: dict[str, str],
                                                 drawn: bool) -> None:
    tty = _Tty()
    with UploadBar(stream=tty, env=env)(size, files, label="up") as advance:
        assert (advance is not None) == drawn
    assert bool(tty.getvalue()) == drawn


def test_plain_stream_and_second_bar_get_none() -> None:
    with UploadBar(stream=io.StringIO(), env={})(BIG_BYTES * 2, 1, label="up") as advance:
        assert advance is None
    bar = UploadBar(stream=_Tty(), env={})
    with bar(BIG_BYTES * 2, 1, label="a") as first, bar(BIG_BYTES * 2, 1, label="b") as second:
        assert first is not None and second is None
