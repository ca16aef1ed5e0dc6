"""Image policies as Flux's ImagePolicy reads them: filters with an extract
template, numerical and alphabetical order, semver; and their settings."""

from __future__ import annotations

from typing import Any

import pytest

from driftless.errors import ConfigError
from driftless.images import image_settings
from driftless.images.policy import ImagePolicy, TagFilter, parse_policy

TIMESTAMPED = ["main-abc1234-1733500000", "main-def5678-1733600000", "main-0a0a0a0-999",
               "feature-x-1733700000", "latest"]


@pytest.mark.parametrize(("policy", "tags", "latest"), [
    (ImagePolicy("p", "r", "numerical", "asc",
                 TagFilter(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "$ts")),
     TIMESTAMPED, "main-def5678-1733600000"),
    (ImagePolicy("p", "r", "numerical", "desc",
                 TagFilter(r"^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "${ts}")),
     TIMESTAMPED, "main-0a0a0a0-999"),
    (ImagePolicy("p", "r", "alphabetical", "asc",
                 TagFilter(r"^RELEASE\.(.+)Z$", "$1")),
     ["RELEASE.2023-01-01T00-00-00Z", "RELEASE.2024-06-01T00-00-00Z", "latest"],
     "RELEASE.2024-06-01T00-00-00Z"),
    (ImagePolicy("p", "r", "alphabetical", "desc"), ["b", "a", "c"], "a"),
    (ImagePolicy("p", "r", "numerical", "asc"), ["1", "10", "9", "x", "nan", "2.5"], "10"),
    (ImagePolicy("p", "r", "semver", ">=1.0.0",
                 TagFilter(r"^v(?P<v>\d+\.\d+\.\d+)-alpine$", "$v")),
     ["v1.2.0-alpine", "v1.10.0-alpine", "v2.0.0", "v1.11.0"], "v1.10.0-alpine"),
    (ImagePolicy("p", "r", "semver", ">=3.0.0"), ["1.0.0"], None),
    (ImagePolicy("p", "r", "numerical", "asc", TagFilter("^nothing$")), ["1"], None),
], ids=["numerical-extract", "numerical-desc", "alphabetical-group", "alphabetical-desc",
        "numerical-skips-text", "semver-extract", "semver-none", "filter-none"])
def test_latest(policy: ImagePolicy, tags: list[str], latest: str | None) -> None:
    assert policy.latest(tags) == latest


@pytest.mark.parametrize(("doc", "message"), [
    ("x", "names its repository"),
    ({"repository": "r"}, "exactly one of"),
    ({"repository": "r", "semver": {"range": "1.0.0p"}}, "improper constraint"),
    ({"repository": "r", "semver": "1.0"}, "must be a mapping"),
    ({"repository": "r", "numerical": {"order": "up"}}, "asc or desc"),
    ({"repository": "r", "alphabetical": {}, "filterTags": {"pattern": "("}}, "filterTags"),
], ids=lambda v: str(v)[:30])
def test_bad_policies(doc: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy("ns:p", doc)


def test_settings() -> None:
    settings = image_settings({"images": {
        "repositories": {"api": {"image": "ghcr.io/acme/api"}},
        "policies": {"ns:api": {"repository": "api", "semver": {"range": "^1"},
                                "digest": True, "review": "all"}},
        "update": {"review": "major", "paths": ["k8s"], "skip_ci": False}}})
    assert settings is not None
    assert settings.review_rule("ns:api") == "all" and settings.digests == {"ns:api"}
    assert settings.update.paths == ("k8s",) and not settings.update.skip_ci
    assert image_settings({}) is None
    with pytest.raises(ConfigError, match="unknown repository 'web'"):
        image_settings({"images": {"repositories": {},
                                   "policies": {"p": {"repository": "web",
                                                      "alphabetical": {}}}}})
    with pytest.raises(ConfigError, match="repositories must be a mapping"):
        image_settings({"images": {"repositories": ["a"]}})
