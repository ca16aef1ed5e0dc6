"""The S3 state backend against a real S3 API (moto server on loopback)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import ConfigError, LockHeld, StateConflict, StateError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.state import open_backend
from driftless.state.s3 import S3Backend, parse_url

RID = ResourceId.parse("local:file/motd")


def _open(url: str) -> S3Backend:
    backend = open_backend(url, root=Path("/nonexistent"))
    assert isinstance(backend, S3Backend)
    return backend


def _snap(base: StateSnapshot, content: str) -> StateSnapshot:
    res = ResourceState(RID, {"content": content}, inputs={"content": content})
    return base.next({RID: res}, {"motd": content})


def test_round_trip_and_versions_kept(s3_url: str, bucket: str, s3_client: Any) -> None:
    backend = _open(s3_url)
    assert backend.read("web").serial == 0
    first = _snap(backend.read("web"), "hello")
    backend.write("web", first)
    backend.write("web", _snap(first, "bye"))
    again = _open(s3_url).read("web")
    assert (again.lineage, again.serial) == (first.lineage, 2)
    assert again.resources[RID].attributes == {"content": "bye"}
    assert again.outputs == {"motd": "bye"}
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix="team/env/web.json")
    assert len(versions["Versions"]) == 2
    assert backend.stacks() == ["web"]


def test_stale_serial_and_foreign_lineage_refused(s3_url: str) -> None:
    a, b = _open(s3_url), _open(s3_url)
    base = a.read("web")
    a.write("web", _snap(base, "one"))
    with pytest.raises(StateConflict, match=r"s3://.*/team/env/web.json.*serial 1"):
        b.write("web", _snap(base, "two"))
    with pytest.raises(StateConflict, match="another lineage"):
        b.write("web", _snap(StateSnapshot.empty().next(), "x"))
    assert a.read("web").resources[RID].attributes["content"] == "one"


def test_racing_writers_exactly_one_wins(s3_url: str) -> None:
    base = _open(s3_url).read("web")
    outcomes: list[str] = []

    def write(i: int) -> None:
        try:
            _open(s3_url).write("web", _snap(base, f"w{i}"))
            outcomes.append("won")
        except StateConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    assert _open(s3_url).read("web").serial == 1


@pytest.mark.parametrize("mode", ["object", "table"])
def test_lock_lease_renew_takeover(mode: str, s3_url: str, s3_table_url: str) -> None:
    url = s3_table_url if mode == "table" else s3_url
    a, b = _open(url), _open(url)
    # a lease long enough that a loaded machine's slow S3 calls (two clients, moto)
    # cannot outlast it before the second client asks
    mine = LockInfo.new("apply", lease=2.0)
    lock_id = a.lock("web", mine)
    with pytest.raises(LockHeld) as held:
        b.lock("web", LockInfo.new("apply"))
    assert held.value.info.id == lock_id and "locked by" in str(held.value)
    a.renew("web", lock_id)
    time.sleep(2.3)
    other = b.lock("web", LockInfo.new("apply"))
    with pytest.raises(StateError, match="no longer ours"):
        a.renew("web", lock_id)
    with pytest.raises(StateError, match="no longer ours"):
        a.unlock("web", lock_id)
    info = a.lock_info("web")
    assert info is not None and info.id == other
    a.unlock("web", "someone", force=True)
    assert b.lock_info("web") is None
    b.unlock("web", other)  # already gone: fine
    assert a.lock("web", LockInfo.new("apply")) != other


def test_renew_keeps_the_lease_length(s3_url: str) -> None:
    backend = _open(s3_url)
    lock_id = backend.lock("web", LockInfo.new("apply", lease=30))
    time.sleep(0.2)
    backend.renew("web", lock_id)
    info = backend.lock_info("web")
    assert info is not None and 29 < info.remaining_seconds() <= 30


def test_journal_survives_a_new_client_and_numbers_keep_growing(s3_url: str) -> None:
    journal = _open(s3_url).journal("web")
    one = journal.begin("local:file/a", "create", {"path": "/a"})
    two = journal.begin("local:file/b", "create", {"path": "/b"})
    journal.finish(one, ok=True, live={"address": "local:file/a"})
    seen = _open(s3_url).journal("web").entries()
    assert [(e.seq, e.finished, e.ok) for e in seen] == [(one, True, True), (two, False, False)]
    assert seen[1].intent == {"path": "/b"}
    journal.clear(two)
    fresh = _open(s3_url).journal("web")
    assert fresh.entries() == []
    assert fresh.begin("local:file/c", "delete", {}) > two


def test_journal_from_many_threads_gets_unique_numbers(s3_url: str) -> None:
    journal = _open(s3_url).journal("web")
    other = _open(s3_url).journal("web")
    seqs: list[int] = []

    def work(j: object, i: int) -> None:
        seqs.append(j.begin(f"local:file/f{i}", "create", {}))  # type: ignore[attr-defined]

    threads = [threading.Thread(target=work, args=(journal if i % 2 else other, i))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seqs)) == 8
    assert [e.seq for e in journal.entries()] == sorted(seqs)


def test_errors_name_bucket_and_code(aws_creds: str) -> None:
    backend = _open(f"s3://no-such-bucket-x/k?endpoint={aws_creds}")
    with pytest.raises(StateError, match=r"s3://no-such-bucket-x/k/web.json.*\(NoSuchBucket\)"):
        backend.read("web")
    with pytest.raises(StateError, match=r"dynamodb table 'nope'.*ResourceNotFoundException"):
        _open(f"s3://no-such-bucket-x/k?endpoint={aws_creds}&lock_table=nope").lock(
            "web", LockInfo.new("apply"))


def test_url_parsing() -> None:
    loc = parse_url("s3://b1/a/b?region=eu-west-1&lock_table=t&endpoint=http://h:1")
    assert (loc.bucket, loc.prefix, loc.region, loc.lock_table, loc.endpoint) == (
        "b1", "a/b", "eu-west-1", "t", "http://h:1")
    with pytest.raises(ConfigError, match="unknown option 'regoin'"):
        parse_url("s3://b1/k?regoin=x")
    with pytest.raises(ConfigError, match="bad S3 state URL"):
        parse_url("s3:///k")
