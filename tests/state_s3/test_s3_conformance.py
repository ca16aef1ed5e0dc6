"""The state conformance suite against S3 (moto server), in both lock modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.state import open_backend
from driftless.state.testing import CHECKS, Check


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_s3_object_locks(check: Check, s3_url: str) -> None:
    check(lambda: open_backend(s3_url, root=Path(".")))


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_s3_dynamodb_locks(check: Check, s3_table_url: str) -> None:
    check(lambda: open_backend(s3_table_url, root=Path(".")))
