"""Tag listing against a real docker-registry with bearer-token auth and pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from oci_registry import PASSWORD, USER, Registry, running_registry

from driftless.errors import SourceError
from driftless.images import RegistryClient, load_credentials

TAGS = ["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "latest", "main-5", "main-12"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as reg:
        for tag in TAGS:
            reg.push_tag("shop/api", tag)
        yield reg


def _creds(tmp_path: Path, host: str) -> dict[str, tuple[str, str]]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {host: {"username": USER, "password": PASSWORD}}}))
    return load_credentials(config)


def test_tags_over_pages_with_a_bearer_token(registry: Registry, tmp_path: Path) -> None:
    client = RegistryClient(credentials=_creds(tmp_path, registry.host), page_size=2)
    try:
        found = client.tags(f"{registry.host}/shop/api")
    finally:
        client.close()
    assert sorted(found) == sorted(TAGS)
    assert registry.scopes[-1] == "repository:shop/api:pull", "only pull was asked for"


def test_digest_of_a_tag(registry: Registry, tmp_path: Path) -> None:
    pushed = registry.push_tag("shop/api", "1.0.1")
    client = RegistryClient(credentials=_creds(tmp_path, registry.host))
    try:
        assert client.digest(f"{registry.host}/shop/api", "1.0.1") == pushed
    finally:
        client.close()


def test_without_credentials_the_token_is_refused(registry: Registry) -> None:
    client = RegistryClient()
    with pytest.raises(SourceError, match="token service answered 401"):
        client.tags(f"{registry.host}/shop/api")
    client.close()
