"""The moto fixture itself: a real endpoint, reset between tests."""

from __future__ import annotations

import boto3


def test_moto_endpoint_serves_s3_and_resets(aws_env: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="fixture-check")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["fixture-check"]


def test_moto_state_is_empty_after_reset(aws_env: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env)
    assert s3.list_buckets()["Buckets"] == []
