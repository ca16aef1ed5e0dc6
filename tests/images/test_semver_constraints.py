"""Masterminds constraint vectors (tests/images/fixtures/semver_vectors.json) and
Flux's selection rules for semver image policies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from driftless.source.semver import Constraints, Version, parse_tag

VECTORS = json.loads((Path(__file__).parent / "fixtures" / "semver_vectors.json").read_text())
_LOOSE = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _loose(text: str) -> Version:
    """Versions in the vectors may be partial (``1.4``), as the library coerces them."""
    m = _LOOSE.match(text)
    assert m is not None, text
    return Version(int(m[1]), int(m[2] or 0), int(m[3] or 0),
                   tuple(m[4].split(".")) if m[4] else ())


def test_the_vector_set_is_large() -> None:
    assert len(VECTORS["checks"]) >= 200


@pytest.mark.parametrize(("constraint", "version", "expected"), VECTORS["checks"],
                         ids=[f"{c}~{v}" for c, v, _ in VECTORS["checks"]])
def test_constraint_check(constraint: str, version: str, expected: bool) -> None:
    assert Constraints.parse(constraint).check(_loose(version)) is expected


@pytest.mark.parametrize(("constraint", "valid"), VECTORS["parse"],
                         ids=[c for c, _ in VECTORS["parse"]])
def test_constraint_parse(constraint: str, valid: bool) -> None:
    if valid:
        Constraints.parse(constraint)
    else:
        with pytest.raises(ValueError, match="improper constraint"):
            Constraints.parse(constraint)


@pytest.mark.parametrize(("constraint", "tags", "latest"), [
    ("1.0.x", ["1.0.0", "1.0.0.1", "1.0.0p", "1.0.1", "1.2.0", "0.1.0"], "1.0.1"),
    ("1.0.x", ["v1.2.3", "v1.0.0", "v0.1.0"], "v1.0.0"),
    ("1.0.x", ["b1.2.3", "b1.0.0"], None),
    (">=1.0.0", ["1.0", "1", "latest", "1.0.0"], "1.0.0"),
    (">=1.0.0 <2.0.0", ["1.9.0", "2.0.0-rc.1", "1.10.0-rc.1"], "1.9.0"),
    (">=1.0.0-0 <2.0.0-0", ["1.9.0", "1.10.0-rc.1", "2.0.0-rc.1"], "1.10.0-rc.1"),
    ("^1.2.3-alpha", ["1.2.3-alpha.1", "1.2.3-beta", "1.2.2"], "1.2.3-beta"),
    ("~1.2", ["1.2.9", "1.3.0", "1.2.10"], "1.2.10"),
    ("*", ["0.0.1", "10.0.0", "9.9.9", "10.0.0-rc.1"], "10.0.0"),
    (">=1.0.0", ["1.2.3-beta.01", "1.2.3-beta.1"], None),
], ids=["flux-valid", "flux-v-prefix", "flux-bad-prefix", "partial-tags-skipped",
        "no-pre-unless-asked", "pre-when-asked", "caret-pre", "tilde", "star",
        "leading-zero-pre-ignored"])
def test_latest_tag(constraint: str, tags: list[str], latest: str | None) -> None:
    assert Constraints.parse(constraint).latest(tags) == latest


def test_parse_tag_is_strict() -> None:
    assert parse_tag("v1.2.3+build.5") == Version(1, 2, 3)
    assert parse_tag("1.2") is None and parse_tag("01.2.3") is None
