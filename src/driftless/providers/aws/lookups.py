"""AWS data sources: peers by tag, the caller's identity, an AMI by filter.

I/O: read-only EC2 and STS calls through the provider's shared clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftless.errors import ProviderError
from driftless.providers.aws._base import from_tag_list
from driftless.providers.aws._client import AwsClients, call

__all__ = ["LOOKUPS", "lookup"]


def instances(aws: AwsClients, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Instances matching ``tags`` (and ``states``, default running + pending)."""
    filters = [{"Name": f"tag:{k}", "Values": [str(v)]}
               for k, v in sorted(dict(query.get("tags") or {}).items())]
    states = list(query.get("states") or ["running", "pending"])
    filters.append({"Name": "instance-state-name", "Values": states})
    pages = aws.client("ec2").get_paginator("describe_instances").paginate(Filters=filters)
    out: list[Mapping[str, Any]] = []
    for page in call(None, "look up instances", lambda: list(pages)):
        for r in page["Reservations"]:
            out += [_instance(i) for i in r["Instances"]]
    return sorted(out, key=lambda i: str(i["id"]))


def _instance(i: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"id": i["InstanceId"], "state": i["State"]["Name"],
            "private_ip": i.get("PrivateIpAddress"), "public_ip": i.get("PublicIpAddress"),
            "instance_type": i.get("InstanceType"), "tags": from_tag_list(i.get("Tags"))}


def caller_identity(aws: AwsClients, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Who the credentials belong to: account, arn, user id."""
    out = call(None, "get caller identity", aws.client("sts").get_caller_identity)
    return [{"account": out["Account"], "arn": out["Arn"], "user_id": out["UserId"]}]


def ami(aws: AwsClients, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Images by ``owners`` and ``filters`` ({name: value or [values]}), newest first."""
    filters = [{"Name": k, "Values": v if isinstance(v, list) else [str(v)]}
               for k, v in sorted(dict(query.get("filters") or {}).items())]
    kwargs: dict[str, Any] = {"Filters": filters}
    if query.get("owners"):
        kwargs["Owners"] = list(query["owners"])
    out = call(None, "look up images", aws.client("ec2").describe_images, **kwargs)
    images = sorted(out["Images"], key=lambda i: str(i.get("CreationDate", "")), reverse=True)
    return [{"id": i["ImageId"], "name": i.get("Name"), "created": i.get("CreationDate"),
             "owner_id": i.get("OwnerId"), "architecture": i.get("Architecture")}
            for i in images]


LOOKUPS = {"ec2.instances": instances, "sts.caller_identity": caller_identity, "ec2.ami": ami}


def lookup(aws: AwsClients, kind: str, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Run the data source ``kind`` or name the ones that exist."""
    fn = LOOKUPS.get(kind)
    if fn is None:
        raise ProviderError(f"provider 'aws' has no data source '{kind}' "
                            f"(data sources: {', '.join(sorted(LOOKUPS))})")
    return fn(aws, query)
