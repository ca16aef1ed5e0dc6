"""Whole-state encryption over the S3 backend (moto server): conformance, and no
clear text in any object version the bucket keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyrage
import pytest

from driftless.model import ResourceId, ResourceState, StateSnapshot
from driftless.state import open_backend
from driftless.state.crypto import StateKeyError, StateKeys, parse_key
from driftless.state.encrypted import EncryptedBackend
from driftless.state.s3 import S3Backend
from driftless.state.testing import CHECKS, Check

SECRET, OUTPUT, INTENT = "s3-attr-marker-5e1f", "s3-output-marker-77aa", "s3-intent-marker-1b2c"


@pytest.fixture
def sealed_url(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The S3 state URL with an age key in the operator's environment."""
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", str(pyrage.x25519.Identity.generate()))
    return s3_url


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_encrypted_s3_conforms(check: Check, sealed_url: str) -> None:
    check(lambda: open_backend(sealed_url, root=Path(".")))


def _every_version(s3_client: Any, bucket: str) -> bytes:
    """The bytes of every version of every object (deleted journal entries too)."""
    out = []
    for page in s3_client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            got = s3_client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
            out.append(got["Body"].read())
    return b"".join(out)


def test_no_object_version_holds_clear_text(
        sealed_url: str, bucket: str, s3_client: Any) -> None:
    backend = open_backend(sealed_url, root=Path("."))
    assert isinstance(backend, EncryptedBackend) and isinstance(backend.inner, S3Backend)
    rid = ResourceId("local", "file", "motd")
    journal = backend.journal("web")
    seq = journal.begin(str(rid), "create", {"content": INTENT})
    journal.finish(seq, ok=True, live={"address": str(rid), "attributes": {"path": SECRET}})
    snap = StateSnapshot.empty().next({rid: ResourceState(rid, {"path": SECRET})},
                                      {"url": OUTPUT})
    backend.write("web", snap)
    journal.clear(seq)
    backend.write("web", backend.read("web").next(outputs={"url": OUTPUT + "-2"}))
    raw = _every_version(s3_client, bucket)
    assert b"$enc" in raw and b"local:file/motd" in raw
    for marker in (SECRET, OUTPUT, INTENT):
        assert marker.encode() not in raw, f"{marker} is in a stored object version"
    other = EncryptedBackend(backend.inner, StateKeys(parse_key(
        str(pyrage.x25519.Identity.generate()), source="t")))
    with pytest.raises(StateKeyError, match="stack 'web'"):
        other.read("web")
