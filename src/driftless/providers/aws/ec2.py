"""``ec2.Instance``: EC2 instances.

I/O: EC2 API calls through the shared client. Security groups live in
``ec2_sg``, networking in ``ec2_net``.

``tags``, ``instance_type`` (stop, modify, start) and
``security_group_ids`` change in place; ``ami``, ``subnet_id``,
``user_data``, ``key_name``, ``spot`` and ``iam_instance_profile`` replace.
Every instance carries the tag ``driftless:address=<address>`` so a create
that was interrupted before state was written is found again by ``read``.

User data often carries secrets by nature (bootstrap tokens), so it is a
sensitive attribute: state keeps its keyed digest only. A digest recorded
under another key (or the unkeyed ``sha256:`` of older versions) is not
trusted: the user data is read again, so a key change never replaces an
instance.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import (
    Change,
    Health,
    HealthCode,
    LiveResource,
    Resource,
    ResourceId,
    sensitive_digest,
)
from driftless.model.digest_key import current_key
from driftless.model.values import digest_key_of
from driftless.providers.aws._base import (
    ADDRESS_TAG,
    AwsHandler,
    address_tag_list,
    desired_of,
    from_tag_list,
)
from driftless.providers.aws._client import AwsClients
from driftless.providers.base import KindSpec

__all__ = ["InstanceProps", "handlers"]


class MetadataOptions(BaseModel):
    """The instance metadata service: ``http_tokens: required`` is IMDSv2 only."""

    model_config = ConfigDict(extra="forbid")
    http_tokens: Literal["required", "optional"] = "required"
    http_put_response_hop_limit: int = Field(1, ge=1, le=64)
    http_endpoint: Literal["enabled", "disabled"] = "enabled"

    def to_api(self) -> dict[str, Any]:
        """The ``MetadataOptions`` request form."""
        return {"HttpTokens": self.http_tokens,
                "HttpPutResponseHopLimit": self.http_put_response_hop_limit,
                "HttpEndpoint": self.http_endpoint}


class InstanceProps(BaseModel):
    """``ec2.Instance`` properties."""

    model_config = ConfigDict(extra="forbid")
    ami: str
    instance_type: str = "t3.micro"
    subnet_id: str | None = None
    security_group_ids: list[str] = Field(default_factory=list)
    iam_instance_profile: str | None = None
    key_name: str | None = None
    user_data: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    spot: bool = False
    metadata_options: MetadataOptions | None = None


_GONE = ("shutting-down", "terminated")


class InstanceHandler(AwsHandler):
    """One EC2 instance, found by id or by its ``driftless:address`` tag."""

    service = "ec2"
    spec = KindSpec(
        "ec2.Instance", InstanceProps, "an EC2 instance",
        replace_on=frozenset({"ami", "subnet_id", "user_data", "key_name", "spot",
                              "iam_instance_profile"}),
        import_id="the instance id (i-...)",
        sensitive_attributes=frozenset({"user_data"}),
        attributes={"id": "instance id", "arn": "instance ARN", "private_ip": "private IPv4",
                    "public_ip": "public IPv4", "state": "running, pending, ..."},
        update_changes=frozenset({"public_ip", "state"}),  # a stop/start for the type
    )

    def compare_form(self, props: Any, given: Any) -> dict[str, Any]:
        out = super().compare_form(props, given)
        if "security_group_ids" in given:
            out["security_group_ids"] = sorted(props.security_group_ids)
        if "user_data" in given:
            out["user_data"] = _digest(props.user_data)
        return out

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        if prior is not None and prior.attributes.get("id"):
            return self._read(resource.id, {"InstanceIds": [prior.attributes["id"]]}, prior)
        by_tag = [{"Name": f"tag:{ADDRESS_TAG}", "Values": [str(resource.id)]}]
        return self._read(resource.id, {"Filters": by_tag}, prior)

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        return self._read(resource.id, {"InstanceIds": [import_id]}, None)

    def _read(self, rid: ResourceId, query: dict[str, Any],
              prior: LiveResource | None) -> LiveResource | None:
        # By id when known: a direct lookup (a filter makes the service scan).
        out = self.maybe(rid, "describe instances", self.api.describe_instances, **query)
        if out is None:
            return None
        alive = [i for r in out["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] not in _GONE]
        if not alive:
            return None
        i = alive[0]
        if prior is not None and _trusted(prior.attributes.get("user_data", "")):
            user_data = prior.attributes["user_data"]
        elif prior is not None and prior.attributes.get("user_data", "") is None:
            user_data = None
        else:
            user_data = self._user_data(rid, i["InstanceId"])
        return LiveResource(rid, _instance_attrs(i, user_data, self.aws.region))

    def _user_data(self, rid: ResourceId, iid: str) -> str | None:
        out = self.call(rid, "read user data", self.api.describe_instance_attribute,
                        InstanceId=iid, Attribute="userData")
        raw = out.get("UserData", {}).get("Value")
        return _digest(base64.b64decode(raw).decode(errors="replace")) if raw else None

    def create(self, change: Change) -> LiveResource:
        p: InstanceProps = self.parse(desired_of(change))
        kwargs: dict[str, Any] = {
            "ImageId": p.ami, "InstanceType": p.instance_type, "MinCount": 1, "MaxCount": 1,
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": address_tag_list(change.id, p.tags)}]}
        optional = {"SubnetId": p.subnet_id, "KeyName": p.key_name, "UserData": p.user_data,
                    "SecurityGroupIds": p.security_group_ids or None,
                    "IamInstanceProfile": {"Name": p.iam_instance_profile}
                    if p.iam_instance_profile else None,
                    "InstanceMarketOptions": {"MarketType": "spot"} if p.spot else None,
                    "MetadataOptions": p.metadata_options.to_api()
                    if p.metadata_options else None}
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        i = self.call(change.id, "run instance", self.api.run_instances, **kwargs)["Instances"][0]
        prior = LiveResource(change.id, {"user_data": _digest(p.user_data)})
        live = self._read(change.id, {"InstanceIds": [i["InstanceId"]]}, prior)
        return live or LiveResource(change.id, _instance_attrs(i, _digest(p.user_data),
                                                                self.aws.region))

    def update(self, change: Change) -> LiveResource:
        p: InstanceProps = self.parse(desired_of(change))
        before = change.prior.attributes if change.prior else {}
        iid, rid, api = str(before["id"]), change.id, self.api
        self.call(rid, "tag instance", api.create_tags, Resources=[iid],
                  Tags=address_tag_list(rid, p.tags))
        if gone := sorted(set(before.get("tags") or {}) - set(p.tags)):
            self.call(rid, "untag instance", api.delete_tags, Resources=[iid],
                      Tags=[{"Key": k} for k in gone])
        if p.security_group_ids and sorted(p.security_group_ids) != before.get(
                "security_group_ids"):
            self.call(rid, "set security groups", api.modify_instance_attribute,
                      InstanceId=iid, Groups=p.security_group_ids)
        if p.metadata_options and p.metadata_options.model_dump() != before.get(
                "metadata_options"):
            self.call(rid, "set metadata options", api.modify_instance_metadata_options,
                      InstanceId=iid, **p.metadata_options.to_api())
        if p.instance_type != before.get("instance_type"):
            self._resize(rid, iid, p.instance_type)
        live = self._read(rid, {"InstanceIds": [iid]}, change.prior)
        if live is None:
            raise ProviderError(f"instance {iid} vanished during update", resource=rid)
        return live

    def _resize(self, rid: ResourceId, iid: str, instance_type: str) -> None:
        """Stop, change the type, start: the instance keeps its id and volumes."""
        api = self.api
        self.call(rid, "stop instance", api.stop_instances, InstanceIds=[iid])
        self.call(rid, "wait for stop", api.get_waiter("instance_stopped").wait,
                  InstanceIds=[iid], WaiterConfig={"Delay": 2, "MaxAttempts": 150})
        self.call(rid, "set instance type", api.modify_instance_attribute, InstanceId=iid,
                  InstanceType={"Value": instance_type})
        self.call(rid, "start instance", api.start_instances, InstanceIds=[iid])

    def delete(self, prior: LiveResource) -> None:
        """Terminate and wait, so groups and profiles it used can go next."""
        iid = prior.attributes["id"]
        if self.maybe(prior.id, "terminate instance", self.api.terminate_instances,
                      InstanceIds=[iid]) is None:
            return
        self.call(prior.id, "wait for termination", self.api.get_waiter(
            "instance_terminated").wait, InstanceIds=[iid],
            WaiterConfig={"Delay": 3, "MaxAttempts": 200})

    def health(self, live: LiveResource) -> Health:
        state = live.attributes.get("state")
        if state == "running":
            return Health.healthy()
        if state == "pending":
            return Health(HealthCode.PROGRESSING, "instance is starting")
        if state in ("stopped", "stopping"):
            return Health(HealthCode.SUSPENDED, f"instance is {state}")
        return Health(HealthCode.DEGRADED, f"instance is {state}")


def _digest(text: str | None) -> str | None:
    return None if text is None else sensitive_digest(text)


def _trusted(recorded: Any) -> bool:
    """Whether a recorded user-data digest was made with the current key."""
    return isinstance(recorded, str) and digest_key_of(recorded) == current_key().id


def _instance_attrs(i: dict[str, Any], user_data: str | None, region: str) -> dict[str, Any]:
    profile = (i.get("IamInstanceProfile") or {}).get("Arn")
    return {
        "id": i["InstanceId"], "ami": i["ImageId"], "instance_type": i["InstanceType"],
        "arn": f"arn:aws:ec2:{region}:instance/{i['InstanceId']}",
        "subnet_id": i.get("SubnetId"), "state": i["State"]["Name"],
        "security_group_ids": sorted(g["GroupId"] for g in i.get("SecurityGroups", [])),
        "iam_instance_profile": profile.rsplit("/", 1)[-1] if profile else None,
        "key_name": i.get("KeyName"), "user_data": user_data,
        "tags": from_tag_list(i.get("Tags")), "spot": i.get("InstanceLifecycle") == "spot",
        "private_ip": i.get("PrivateIpAddress"), "public_ip": i.get("PublicIpAddress"),
        "availability_zone": i.get("Placement", {}).get("AvailabilityZone"),
        "metadata_options": _metadata(i.get("MetadataOptions")),
    }


def _metadata(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    return {"http_tokens": raw.get("HttpTokens"),
            "http_put_response_hop_limit": raw.get("HttpPutResponseHopLimit"),
            "http_endpoint": raw.get("HttpEndpoint", "enabled")}




def handlers(aws: AwsClients) -> dict[str, AwsHandler]:
    """This module's kinds, sharing ``aws`` clients."""
    return {"ec2.Instance": InstanceHandler(aws)}
