"""A moto server on loopback for the S3 state backend tests, and a fresh bucket per test.

Independent of tests/aws on purpose: one small session fixture, no resets
(each test gets its own uniquely named, versioned bucket and lock table).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from servers import moto_server

REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a moto server running for the session, one request at a time: the
    lock races need S3's atomic conditional writes (see serial_moto.py)."""
    with moto_server(tmp_path_factory.mktemp("moto_s3state"), serial=True) as url:
        yield url


@pytest.fixture
def aws_creds(s3_moto: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy credentials in the environment (moto accepts any); the endpoint."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return s3_moto


def client(endpoint: str, service: str) -> Any:
    """A boto3 client on the moto server."""
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def s3_client(aws_creds: str) -> Any:
    """A boto3 S3 client on the moto server (for checking what the backend stored)."""
    return client(aws_creds, "s3")


@pytest.fixture
def bucket(aws_creds: str) -> str:
    """A fresh versioned bucket."""
    name = f"state-{uuid.uuid4().hex[:12]}"
    s3 = client(aws_creds, "s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def lock_table(aws_creds: str) -> str:
    """A fresh DynamoDB lock table (hash key LockID)."""
    name = f"locks-{uuid.uuid4().hex[:12]}"
    client(aws_creds, "dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}],
    )
    return name


@pytest.fixture
def s3_url(aws_creds: str, bucket: str) -> str:
    """A state URL with object locks."""
    return f"s3://{bucket}/team/env?region={REGION}&endpoint={aws_creds}"


@pytest.fixture
def s3_table_url(s3_url: str, lock_table: str) -> str:
    """A state URL with DynamoDB locks."""
    return f"{s3_url}&lock_table={lock_table}"
