"""Role and table tag updates drop removed keys (the shared ``replace_tags`` path)."""

from __future__ import annotations

import json

import pytest
from helpers import converge, make_provider, res

from driftless.model import Action

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ec2.amazonaws.com"}}]}


@pytest.mark.parametrize(("kind", "props"), [
    ("iam.Role", {"name": "worker", "assume_role_policy": json.dumps(TRUST)}),
    ("dynamodb.Table", {"name": "locks", "hash_key": "LockID", "attributes": {"LockID": "S"}}),
])
def test_removed_tag_keys_are_untagged(aws_env: str, kind: str, props: dict[str, object]) -> None:
    p = make_provider(aws_env)
    _, live = converge(p, res(kind, "t", {**props, "tags": {"keep": "1", "drop": "2"}}))
    assert live is not None and live.attributes["tags"] == {"keep": "1", "drop": "2"}
    change, live = converge(p, res(kind, "t", {**props, "tags": {"keep": "3"}}), live)
    assert change.action is Action.UPDATE
    assert live is not None and live.attributes["tags"] == {"keep": "3"}
    again = p.read(res(kind, "t", props), live)
    assert again is not None and again.attributes["tags"] == {"keep": "3"}
