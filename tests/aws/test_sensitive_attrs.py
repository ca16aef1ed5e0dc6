"""AWS attributes read back from a real API (moto) keep no secret in clear:
tags echo the secret, user data is sensitive by nature; a plan after apply is
a no-op, a changed secret is an update shown as ``(sensitive)``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from driftless.engine import Engine
from driftless.model import Action, Resource, ResourceId, Sensitive
from driftless.model.digest_key import KEY_ENV, KEY_FILE_ENV
from driftless.providers import ProviderSet
from driftless.state.packed import inflate_all
from engine_helpers import backend, stack


@pytest.fixture(autouse=True)
def _digest_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key file of this test's own, never the real home's."""
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "_keys" / "digest.key"))
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def eng(aws_env: str, tmp_path: Path) -> Iterator[Engine]:
    providers = ProviderSet({"aws": {"region": "us-east-1", "endpoint_url": aws_env}})
    be = backend(tmp_path)
    yield Engine(providers=providers, backend=be, workers=2)
    providers.close()
    be.close()


def _ami(endpoint: str) -> str:
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def _state(eng: Engine) -> str:
    be = eng.backend
    return json.dumps(be.read("s").to_json()) + "".join(
        json.dumps(e.intent) + json.dumps(e.live) for e in be.journal("s").entries())


def _db_bytes(tmp_path: Path) -> bytes:
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))
    return raw + b"\n" + inflate_all(raw)  # rows are stored deflated: scan them inflated


def test_instance_tags_and_user_data_stay_digests(
    eng: Engine, aws_env: str, tmp_path: Path,
) -> None:
    canary = f"CANARY-{secrets.token_hex(8)}"

    def instance(secret: str) -> Resource:
        return Resource(ResourceId("aws", "ec2.Instance", "web"), {
            "ami": _ami(aws_env), "tags": {"Token": Sensitive(secret), "Role": "web"},
            "user_data": Sensitive.derived(f"#!/bin/sh\nexport TOKEN={secret}\n", secret)})

    desired = stack("s", [instance(canary)])
    report = eng.apply(eng.plan(desired), desired)
    assert report.ok, report.failed()
    ec2 = boto3.client("ec2", endpoint_url=aws_env)
    tags = ec2.describe_instances()["Reservations"][0]["Instances"][0]["Tags"]
    assert {"Key": "Token", "Value": canary} in tags  # the target holds it
    assert canary not in _state(eng) and canary.encode() not in _db_bytes(tmp_path)
    assert '"Role": "web"' in _state(eng)
    assert not eng.plan(desired).has_changes()
    changed = eng.plan(stack("s", [instance(canary + "x")]))
    kinds = {c.action for c in changed.pending()}
    assert kinds == {Action.REPLACE}  # user_data forces replacement
    assert canary not in json.dumps(changed.to_json())
    assert all(d.shown() == ("(sensitive)", "(sensitive)") for c in changed.pending()
               for d in c.diffs)


def test_bucket_tags_stay_digests_and_update_in_place(eng: Engine, tmp_path: Path) -> None:
    canary = f"CANARY-{secrets.token_hex(8)}"

    def bucket(secret: str) -> Resource:
        return Resource(ResourceId("aws", "s3.Bucket", "b"), {
            "name": "sensitive-tags-bucket", "tags": {"Token": Sensitive(secret)}})

    desired = stack("s", [bucket(canary)])
    assert eng.apply(eng.plan(desired), desired).ok
    assert canary not in _state(eng) and canary.encode() not in _db_bytes(tmp_path)
    assert not eng.plan(desired).has_changes()
    new = stack("s", [bucket(canary + "y")])
    plan = eng.plan(new)
    (change,) = plan.pending()
    assert change.action is Action.UPDATE
    assert canary not in json.dumps(plan.to_json())
    assert eng.apply(plan, new).ok
    assert not eng.plan(new).has_changes()
    assert canary not in _state(eng)
