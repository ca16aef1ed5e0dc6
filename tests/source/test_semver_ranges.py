"""Version parsing and the ranges a source may follow."""

from __future__ import annotations

from itertools import pairwise

import pytest

from driftless.source import Version, VersionRange, is_range, newest_in_range, parse_version

TAGS = [
    "v1.15.0",
    "v1.16.0",
    "v1.18.2",
    "1.18.10",
    "v1.19.0",
    "v1.18.11-rc.1",
    "v2.0.0",
    "v0.2.5",
    "junk",
]


@pytest.mark.parametrize(
    ("spec", "newest"),
    [
        (">=1.16.0 <1.19.0", "1.18.10"),
        (">= 1.16, < 1.18", "v1.16.0"),
        ("~1.18", "1.18.10"),
        ("~1.18.3", "1.18.10"),
        ("^1", "v1.19.0"),
        ("^0.2", "v0.2.5"),
        ("1.x", "v1.19.0"),
        ("1.18.x", "1.18.10"),
        ("*", "v2.0.0"),
        ("<1.16 || >=2", "v2.0.0"),
        ("=1.18.2", "v1.18.2"),
        (">=1.18.11-rc.0 <1.19", "v1.18.11-rc.1"),
        (">=3", None),
    ],
)
def test_newest_in_range(spec: str, newest: str | None) -> None:
    assert is_range(spec) or spec == "1.18.x"
    assert newest_in_range(TAGS, spec) == newest


def test_precedence_and_parsing() -> None:
    assert parse_version("v1.2.3") == Version(1, 2, 3)
    assert parse_version("1.2") is None
    assert parse_version("main") is None
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-beta",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.10.0",
    ]
    versions = [parse_version(v) for v in ordered]
    assert all(a is not None and b is not None and a < b for a, b in pairwise(versions))


@pytest.mark.parametrize("ref", ["main", "v1.2.3", "release/1.2", "a1b2c3d"])
def test_plain_refs_are_not_ranges(ref: str) -> None:
    assert not is_range(ref)


def test_bad_range_names_the_part() -> None:
    with pytest.raises(ValueError, match="'banana' is not a version"):
        VersionRange.parse(">=1 banana")
