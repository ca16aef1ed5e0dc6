"""Node identity (file, environment, IMDSv2 served by moto), selection, and peers
(EC2 DescribeInstances on moto, static lists, membership in a real etcd)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from driftless.errors import ConfigError
from driftless.fleet.base import Member
from driftless.fleet.etcd import EtcdCoordinator
from driftless.fleet.node import from_imds, identify, instance_tags, parse_tags, selects
from driftless.fleet.peers import resolve_peers


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": "/dev/null",
                       "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(key, value)
    return moto_url


@pytest.mark.parametrize(("selector", "ok"), [
    ({}, True), (None, True), ({"role": "worker"}, True), ({"gpu": "a10g|l4"}, True),
    ({"gpu": "a10g"}, False), ({"role": "worker", "zone": "*"}, False),
    ({"role": "*"}, True), ({"role": "worker", "gpu": "h100 | l4"}, True)])
def test_select_by_tag_expressions(selector: dict[str, str] | None, ok: bool) -> None:
    assert selects(selector, {"role": "worker", "gpu": "l4"}) is ok


def test_select_must_be_a_map() -> None:
    with pytest.raises(ConfigError, match="select must be a map"):
        selects(["worker"], {})


def test_identity_from_environment_and_file(tmp_path: Path) -> None:
    node = identify({"DRIFTLESS_NODE_NAME": "gpu-1", "DRIFTLESS_NODE_TAGS": "role=worker,gpu=l4",
                     "DRIFTLESS_NODE_ADDRESS": "10.0.0.5"})
    assert (node.name, dict(node.tags), node.address) == (
        "gpu-1", {"role": "worker", "gpu": "l4"}, "10.0.0.5")
    (tmp_path / "node.yaml").write_text("name: gpu-2\ntags: {role: worker}\naddress: 10.0.0.6\n")
    node = identify({"DRIFTLESS_NODE_FILE": str(tmp_path / "node.yaml")})
    assert node.values() == {"name": "gpu-2", "address": "10.0.0.6", "tags": {"role": "worker"}}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_tags("role")


def test_identity_from_imdsv2_and_instance_tags(aws: str) -> None:
    ec2 = boto3.client("ec2", endpoint_url=aws)
    # moto's metadata service always answers for instance i-fake, which EC2 does not
    # hold (so it has no tags); the tags of a real instance come from DescribeTags
    node = from_imds(aws, ec2=ec2)
    assert (node.name, node.address, dict(node.tags), node.source) == (
        "i-fake", "127.0.0.1", {}, "ec2")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "worker"}]}])
    instance = inst["Instances"][0]["InstanceId"]
    assert instance_tags(instance, "us-east-1", ec2) == {"role": "worker"}


def test_peers_by_ec2_tags(aws: str) -> None:
    ec2 = boto3.client("ec2", endpoint_url=aws)
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    cluster = f"c{uuid.uuid4().hex[:6]}"

    def launch(role: str, count: int) -> list[str]:
        out = ec2.run_instances(ImageId=ami, MinCount=count, MaxCount=count, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "SynktiCluster", "Value": cluster},
                                                  {"Key": "SynktiRole", "Value": role}]}])
        return [i["InstanceId"] for i in out["Instances"]]
    workers = launch("worker", 3)
    launch("bastion", 1)
    ec2.terminate_instances(InstanceIds=workers[2:])
    peers = resolve_peers({"tags": {"SynktiCluster": cluster, "SynktiRole": "worker"}},
                          me=workers[0], ec2=ec2)
    assert [p.name for p in peers] == sorted(workers[:2])
    assert all(p.address and p.source == "ec2" for p in peers)
    assert [p.self for p in peers] == [p.name == workers[0] for p in peers]


def test_static_and_membership_peers(etcd_url: str) -> None:
    static = resolve_peers({"static": ["a=10.0.0.1", {"name": "b", "address": "10.0.0.2"}]},
                           me="b")
    assert [(p.name, p.address, p.self) for p in static] == [
        ("a", "10.0.0.1", False), ("b", "10.0.0.2", True)]
    coord = EtcdCoordinator(etcd_url, prefix=f"/t/{uuid.uuid4().hex[:8]}")
    for name, role in (("w1", "worker"), ("w2", "worker"), ("db", "database")):
        coord.join(coord.grant(name, ttl=30), Member(name, {"role": role}, address=f"{name}.lan"))
    peers = resolve_peers({"members": {"role": "worker"}}, me="w2", coord=coord)
    assert [(p.name, p.address, p.source, p.self) for p in peers] == [
        ("w1", "w1.lan", "members", False), ("w2", "w2.lan", "members", True)]
