"""s3.Sync, s3.Object from a file, bucket deletion rules, lookups, random stability."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from helpers import converge, make_provider, res

from driftless.errors import ProviderError
from driftless.model import Action, Change, Resource, ResourceId
from driftless.providers.aws.s3_sync import local_etag
from driftless.providers.random import RandomProvider


def _keys(endpoint: str, bucket: str) -> dict[str, str]:
    out = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket=bucket)
    return {o["Key"]: o["ETag"].strip('"') for o in out.get("Contents", [])}


def test_sync_uploads_only_changes_and_prunes(aws_env: str, tmp_path: Path) -> None:
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket="weights")
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "big.bin").write_bytes(b"x" * (6 * 1024 * 1024))
    p = make_provider(aws_env)
    sync = res("s3.Sync", "model", {"bucket": "weights", "prefix": "m/v1", "source": str(src),
                                    "delete": True, "multipart_threshold_mb": 5})
    change, live = converge(p, sync)
    assert change.action is Action.CREATE and live is not None
    remote = _keys(aws_env, "weights")
    assert set(remote) == {"m/v1/a.txt", "m/v1/sub/big.bin"}
    assert remote["m/v1/sub/big.bin"].endswith("-2")  # multipart, etag computed locally
    assert remote["m/v1/sub/big.bin"] == local_etag(src / "sub" / "big.bin", 5 * 1024 * 1024)
    assert converge(p, sync, live)[0].action is Action.NOOP

    (src / "a.txt").write_text("beta")
    (src / "sub" / "big.bin").unlink()
    change, live = converge(p, sync, live)
    assert change.action is Action.UPDATE and [d.path for d in change.diffs] == ["manifest"]
    assert set(_keys(aws_env, "weights")) == {"m/v1/a.txt"}
    assert converge(p, sync, live)[0].action is Action.NOOP


def test_object_from_file_follows_its_content(aws_env: str, tmp_path: Path) -> None:
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket="bin")
    wheel = tmp_path / "node.whl"
    wheel.write_bytes(b"v1")
    p = make_provider(aws_env)
    obj = res("s3.Object", "wheel", {"bucket": "bin", "key": "node.whl", "source": str(wheel)})
    _, live = converge(p, obj)
    assert converge(p, obj, live)[0].action is Action.NOOP
    wheel.write_bytes(b"v2")
    change, _ = converge(p, obj, live)
    assert change.action is Action.UPDATE
    body = boto3.client("s3", endpoint_url=aws_env).get_object(Bucket="bin", Key="node.whl")
    assert body["Body"].read() == b"v2"


def test_object_changed_behind_our_back_is_drift(aws_env: str) -> None:
    s3 = boto3.client("s3", endpoint_url=aws_env)
    s3.create_bucket(Bucket="cfg")
    p = make_provider(aws_env)
    obj = res("s3.Object", "conf", {"bucket": "cfg", "key": "c", "content": "ours"})
    _, live = converge(p, obj)
    s3.put_object(Bucket="cfg", Key="c", Body=b"theirs")
    assert p.diff(obj, p.read(obj, live)).action is Action.UPDATE


def test_non_empty_bucket_is_kept_unless_force_destroy(aws_env: str) -> None:
    p = make_provider(aws_env)
    bucket = res("s3.Bucket", "data", {"name": "data-bucket", "versioning": True})
    _, live = converge(p, bucket)
    assert live is not None
    boto3.client("s3", endpoint_url=aws_env).put_object(Bucket="data-bucket", Key="k", Body=b"1")
    with pytest.raises(ProviderError) as err:
        p.apply(Change(bucket.id, Action.DELETE, None, live))
    assert err.value.code == "BucketNotEmpty" and "aws:s3.Bucket/data" in str(err.value)
    forced = res("s3.Bucket", "data", {"name": "data-bucket", "force_destroy": True})
    change, live = converge(p, forced, live)
    assert change.action is Action.UPDATE and live is not None
    assert p.apply(Change(bucket.id, Action.DELETE, None, live)) is None
    assert p.read(bucket, None) is None


def test_instance_found_by_address_tag_after_interrupted_create(aws_env: str) -> None:
    p = make_provider(aws_env)
    ami = p.lookup("ec2.ami", {"owners": ["amazon"]})[0]["id"]
    inst = res("ec2.Instance", "w", {"ami": ami, "tags": {"Role": "w"}}, 0)
    created = p.apply(Change(inst.id, Action.CREATE, inst))
    assert created is not None
    found = p.read(inst, None)  # state lost: no prior
    assert found is not None and found.attributes["id"] == created.attributes["id"]
    peers = p.lookup("ec2.instances", {"tags": {"Role": "w"}})
    assert [i["id"] for i in peers] == [created.attributes["id"]]
    resized = res("ec2.Instance", "w", {"ami": ami, "tags": {"Role": "w"},
                                        "instance_type": "t3.large"}, 0)
    change = p.diff(resized, found)
    assert change.action is Action.UPDATE
    after = p.apply(change)
    assert after is not None and after.attributes["id"] == created.attributes["id"]
    assert after.attributes["instance_type"] == "t3.large"
    assert p.diff(res("ec2.Instance", "w", {"ami": "ami-other"}, 0), after).action \
        is Action.REPLACE


def test_caller_identity_lookup(aws_env: str) -> None:
    (me,) = make_provider(aws_env).lookup("sts.caller_identity", {})
    assert me["account"] == "123456789012"


def test_random_values_are_stable_until_keepers_change() -> None:
    p = RandomProvider()
    rid = ResourceId("random", "Id", "suffix")
    want = Resource(rid, {"byte_length": 4, "keepers": {"ami": "a"}})
    live = p.apply(p.diff(want, p.read(want, None)))
    assert live is not None and len(live.attributes["hex"]) == 8
    assert p.read(want, live) == live and p.diff(want, live).action is Action.NOOP
    changed = Resource(rid, {"byte_length": 4, "keepers": {"ami": "b"}})
    change = p.diff(changed, live)
    assert change.action is Action.REPLACE
    fresh = p.apply(change)
    assert fresh is not None and fresh.attributes["hex"] != live.attributes["hex"]
    pw = Resource(ResourceId("random", "String", "pw"), {"length": 30, "upper": False,
                                                           "numeric": False})
    value = p.apply(p.diff(pw, None))
    assert value is not None and str(value.attributes["result"]).islower()
    assert len(value.attributes["result"]) == 30
