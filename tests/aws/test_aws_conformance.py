"""The provider conformance suite against a real moto server, one case per kind."""

from __future__ import annotations

import json

import boto3
import pytest
from helpers import make_provider, res

from driftless.model import Resource, ResourceId
from driftless.providers.random import RandomProvider
from driftless.providers.testing import ConformanceCase, check_provider

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
READ = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


def _case(kind: str, props: dict, updated: dict, import_id: str | None) -> ConformanceCase:
    return ConformanceCase(res(kind, "c", props), res(kind, "c", {**props, **updated}), import_id)


def test_s3_and_dynamodb_kinds_conform(aws_env: str) -> None:
    boto3.client("s3", endpoint_url=aws_env).create_bucket(Bucket="host")
    check_provider(make_provider(aws_env), [
        _case("s3.Bucket", {"name": "conf-bucket", "versioning": True, "tags": {"a": "1"}},
              {"tags": {"a": "2"}, "public_access_block": True}, "conf-bucket"),
        _case("s3.Object", {"bucket": "host", "key": "k.txt", "content": "one"},
              {"content": "two", "content_type": "text/plain"}, "host/k.txt"),
        _case("dynamodb.Table", {"name": "locks", "hash_key": "LockID",
                                 "attributes": {"LockID": "S"}},
              {"tags": {"team": "x"}}, "locks"),
    ])


def test_iam_kinds_conform(aws_env: str) -> None:
    iam = boto3.client("iam", endpoint_url=aws_env)
    iam.create_role(RoleName="host", AssumeRolePolicyDocument=json.dumps(TRUST))
    arn = iam.create_policy(PolicyName="p", PolicyDocument=json.dumps(READ))["Policy"]["Arn"]
    arn2 = iam.create_policy(PolicyName="p2", PolicyDocument=json.dumps(READ))["Policy"]["Arn"]
    check_provider(make_provider(aws_env), [
        _case("iam.Role", {"name": "worker", "assume_role_policy": TRUST},
              {"description": "workers", "tags": {"a": "b"}}, "worker"),
        _case("iam.RolePolicy", {"role": "host", "name": "read", "policy": READ},
              {"policy": json.dumps({**READ, "Statement": [{**READ["Statement"][0],
                                                            "Action": "s3:ListBucket"}]})},
              "host:read"),
        _case("iam.PolicyAttachment", {"role": "host", "policy_arn": arn},
              {"policy_arn": arn2}, f"host:{arn2}"),
        _case("iam.InstanceProfile", {"name": "worker-profile"}, {"role": "host"},
              "worker-profile"),
    ])


def _ami(endpoint: str) -> str:
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    return str(ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def test_ec2_kinds_conform(aws_env: str) -> None:
    ec2 = boto3.client("ec2", endpoint_url=aws_env)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    rule = {"port": 22, "cidr_blocks": ["10.0.0.0/8"]}
    p = make_provider(aws_env)
    check_provider(p, [
        _case("ec2.SecurityGroup", {"name": "web", "vpc_id": vpc, "ingress": [rule]},
              {"ingress": [rule, {"protocol": "all", "self": True}]}, None),
        _case("ec2.Instance", {"ami": _ami(aws_env), "instance_type": "t3.micro",
                               "subnet_id": sub, "tags": {"Role": "w"}, "user_data": "echo",
                               "metadata_options": {"http_tokens": "optional"}},
              {"tags": {"Role": "w", "Extra": "1"},  # IMDSv2 only, set in place
               "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 2}},
              None),
        _case("ec2.Vpc", {"cidr_block": "10.1.0.0/16"}, {"enable_dns_hostnames": True}, None),
        _case("ec2.Subnet", {"vpc_id": vpc, "cidr_block": "10.9.2.0/24"},
              {"map_public_ip_on_launch": True}, None),
        _case("ec2.InternetGateway", {"tags": {"a": "1"}}, {"vpc_id": None, "tags": {"a": "2"}},
              None),
        _case("ec2.RouteTable", {"vpc_id": vpc},
              {"routes": [{"cidr_block": "0.0.0.0/0", "gateway_id": igw}], "subnet_ids": [sub]},
              None),
        _case("ec2.ElasticIp", {"tags": {"a": "1"}}, {"tags": {"a": "2"}}, None),
    ])


@pytest.mark.parametrize("kind,props,updated,import_id", [
    ("Id", {"byte_length": 4}, {"byte_length": 6}, None),
    ("String", {"length": 12}, {"length": 20, "special": True}, None),
])
def test_random_kinds_conform(kind: str, props: dict, updated: dict,
                              import_id: str | None) -> None:
    rid = ResourceId("random", kind, "c")
    check_provider(RandomProvider(), [ConformanceCase(
        Resource(rid, props), Resource(rid, {**props, **updated}), import_id)])
