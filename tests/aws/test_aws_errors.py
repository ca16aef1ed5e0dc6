"""Acceptance 5: bad credentials, missing permission, bucket name taken, invalid CIDR.

Each must be one clear error naming the resource address and the AWS code.
Credential checks need a moto server that enforces IAM; it is started for
this module with a small budget of unauthenticated calls to create a user.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from helpers import converge, make_provider, res

from driftless.errors import ProviderError
from driftless.model import Action, Change
from driftless.providers.aws import AwsProvider
from driftless.providers.base import schema_problems
from servers import moto_server


@pytest.fixture(scope="module")
def strict_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server that authenticates every call after the first three."""
    with moto_server(tmp_path_factory.mktemp("strict"),
                     env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"}) as url:
        yield url


@pytest.fixture(scope="module")
def powerless_keys(strict_moto: str) -> tuple[str, str]:
    """Keys of a real (moto) IAM user with no permissions, made with the free calls."""
    iam = boto3.client("iam", endpoint_url=strict_moto, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")
    iam.create_user(UserName="nobody")
    key = iam.create_access_key(UserName="nobody")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def _provider(endpoint: str, monkeypatch: pytest.MonkeyPatch, key: str, secret: str) -> AwsProvider:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    p = AwsProvider()
    p.configure({"region": "us-east-1", "endpoint_url": endpoint, "max_attempts": 1})
    return p


def test_bad_credentials_name_the_code_and_resource(
        strict_moto: str, powerless_keys: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = _provider(strict_moto, monkeypatch, "AKIAWRONGWRONGWRONG1", "nope")
    bucket = res("s3.Bucket", "models", {"name": "synkti-models"})
    with pytest.raises(ProviderError) as err:
        converge(p, bucket)
    assert err.value.code == "InvalidAccessKeyId"
    assert str(err.value).startswith("aws:s3.Bucket/models: ")
    assert " failed: " in str(err.value)
    assert "(InvalidAccessKeyId)" in str(err.value)
    assert err.value.hint is not None and "credentials" in err.value.hint
    assert "nope" not in str(err.value)


def test_missing_permission_is_access_denied(
        strict_moto: str, powerless_keys: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    p = _provider(strict_moto, monkeypatch, *powerless_keys)
    role = res("iam.Role", "worker", {"name": "worker", "assume_role_policy": {}})
    with pytest.raises(ProviderError) as err:
        converge(p, role)
    assert err.value.code == "AccessDenied"
    assert str(err.value).startswith("aws:iam.Role/worker: ")
    assert not err.value.retryable
    assert powerless_keys[1] not in str(err.value)


def test_no_credentials_at_all(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                               tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    p = AwsProvider()
    p.configure({"region": "us-east-1", "endpoint_url": moto_endpoint})
    with pytest.raises(ProviderError) as err:
        p.read(res("s3.Bucket", "b", {"name": "abc"}), None)
    assert err.value.code == "NoCredentials"
    assert "aws:s3.Bucket/b" in str(err.value)


def test_bucket_name_taken(aws_env: str) -> None:
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket="taken-name")
    p = make_provider(aws_env)
    bucket = res("s3.Bucket", "mine", {"name": "taken-name"})
    with pytest.raises(ProviderError) as err:
        p.apply(Change(bucket.id, Action.CREATE, bucket))
    assert err.value.code == "BucketAlreadyOwnedByYou"
    assert "driftless import aws:s3.Bucket/mine taken-name" in str(err.value.hint)
    assert str(err.value).startswith("aws:s3.Bucket/mine: create bucket 'taken-name' failed")
    assert f"({err.value.code})" in str(err.value)


def test_invalid_cidr_is_caught_by_validate() -> None:
    spec = AwsProvider().kinds()["ec2.SecurityGroup"]
    problems = schema_problems(spec, {"name": "sg", "ingress": [
        {"port": 22, "cidr_blocks": ["10.0.0.300/16"]}]})
    assert len(problems) == 1
    assert "ingress.0.cidr_blocks" in problems[0] and "not a CIDR block" in problems[0]
    vpc = AwsProvider().kinds()["ec2.Vpc"]
    assert "has no prefix length" in schema_problems(vpc, {"cidr_block": "10.0.0.1"})[0]


def test_cidr_aws_rejects_names_the_code(aws_env: str) -> None:
    p = make_provider(aws_env)
    vpc = res("ec2.Vpc", "net", {"cidr_block": "10.0.0.0/8"})
    with pytest.raises(ProviderError) as err:
        converge(p, vpc)
    assert err.value.code is not None and err.value.code in str(err.value)
    assert str(err.value).startswith("aws:ec2.Vpc/net: create vpc failed")


def test_unknown_provider_setting_is_a_config_error() -> None:
    from driftless.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        AwsProvider().configure({"region": "us-east-1", "endpont_url": "http://x"})
    assert "providers.aws" in str(err.value) and "endpont_url" in str(err.value)
    assert err.value.hint is not None and "endpoint_url" in err.value.hint
