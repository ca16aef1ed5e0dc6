"""The live view a file kind builds right after writing a file, without reading it back.

``ContentFileHandler._written`` builds the view directly from the bytes it
wrote and the stat of the open file; it must be exactly what ``observe``
makes from the same stat with that record as the prior, keep the record
trusted by the next read (no hashing), and fall back to ``observe`` for a
racily clean record or a kind that adds to ``observe``. Real files in tmp_path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from driftless.model import Action, LiveResource, Resource, ResourceId
from driftless.providers.local import LocalProvider
from driftless.providers.local import _fingerprint as fingerprint_mod
from driftless.providers.local import files as files_mod
from driftless.providers.local._fingerprint import fingerprint
from driftless.providers.local.files import HANDLERS, ContentFileHandler


def _res(**props: Any) -> Resource:
    return Resource(ResourceId("local", "file", "x"), props)


@pytest.mark.parametrize("props", [
    {"content": "hello world\n"},
    {"content": "hello world\n", "mode": "0600"},
    {"content": "x" * 5000, "owner": os.getuid(), "group": os.getgid()},
])
def test_written_view_is_what_observe_makes(tmp_path: Path, props: dict[str, Any]) -> None:
    p, path = LocalProvider(), tmp_path / "f"
    r = _res(path=str(path), **props)
    live = p.apply(p.diff(r, p.read(r, None)))
    assert live is not None
    st = os.lstat(path)
    handler = HANDLERS["file"]
    assert isinstance(handler, ContentFileHandler)
    digest = live.attributes["sha256"]
    seen = live.private["seen_ns"]
    prior = LiveResource(r.id, {}, fingerprint(st, digest, keyed=False, seen_ns=seen))
    observed = handler.observe(r.id, str(path), st, keyed=False, props=r.properties, prior=prior)
    assert observed.attributes == live.attributes
    assert list(observed.attributes) == list(live.attributes)
    assert dict(observed.private) == {**live.private, "seen_ns": observed.private["seen_ns"]}
    assert list(observed.private) == list(live.private)


def test_written_record_is_trusted_by_the_next_read(tmp_path: Path,
                                                     hashes: list[str]) -> None:
    hashed = hashes  # paths hashed (conftest)
    p, path = LocalProvider(), tmp_path / "f"
    r = _res(path=str(path), content="hello\n")
    live = p.apply(p.diff(r, p.read(r, None)))
    assert hashed == []  # the bytes written were digested, not read back
    assert live is not None and p.read(r, live) is live and hashed == []
    assert p.diff(r, live).action is Action.NOOP


def test_a_racily_clean_write_is_hashed_as_observe_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashes: list[str]) -> None:
    """On a file system whose clock the backdating does not beat (whole seconds),
    the view is ``observe``'s: the file is hashed."""
    hashed = hashes  # paths hashed (conftest)
    for module in (files_mod, fingerprint_mod):
        monkeypatch.setattr(module, "racy", lambda mtime_ns, seen_ns: True)
    p, path = LocalProvider(), tmp_path / "f"
    r = _res(path=str(path), content="hello\n")
    live = p.apply(p.diff(r, p.read(r, None)))
    assert hashed == [str(path)]
    assert live is not None and live.attributes["sha256"] == live.private["digest"]
