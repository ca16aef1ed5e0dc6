"""``ec2.SecurityGroup``: a security group and its ingress/egress rules.

I/O: EC2 API calls through the shared client.

Rules are compared as sorted, one-source-per-entry "atoms" so the order of
rules and how sources are grouped never shows as a change; ``self: true`` is
a rule whose source is the group itself. ``cidr`` validates CIDR blocks for
this module and ``ec2_net``.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, Resource, ResourceId
from driftless.providers.aws._base import (
    ADDRESS_TAG,
    AwsHandler,
    address_tag_list,
    desired_of,
    from_tag_list,
)
from driftless.providers.aws._client import AwsClients
from driftless.providers.base import KindSpec

__all__ = ["RuleProps", "SecurityGroupProps", "cidr", "handlers"]


def cidr(value: str) -> str:
    """Validate an IPv4/IPv6 CIDR block (``10.0.0.0/16``) for schemas."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"'{value}' is not a CIDR block (e.g. 10.0.0.0/16)") from None
    if "/" not in value:
        raise ValueError(f"'{value}' has no prefix length (e.g. {value}/32)")
    return value


class RuleProps(BaseModel):
    """One ingress/egress rule; ``port`` is shorthand for from_port = to_port."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    protocol: Literal["tcp", "udp", "icmp", "-1", "all"] = "tcp"
    port: int | None = Field(default=None, ge=-1, le=65535)
    from_port: int | None = Field(default=None, ge=-1, le=65535)
    to_port: int | None = Field(default=None, ge=-1, le=65535)
    cidr_blocks: list[str] = Field(default_factory=list)
    ipv6_cidr_blocks: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    self_: bool = Field(default=False, alias="self")
    description: str | None = None

    @field_validator("cidr_blocks", "ipv6_cidr_blocks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        return [cidr(c) for c in v]


class SecurityGroupProps(BaseModel):
    """``ec2.SecurityGroup`` properties."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = "managed by driftless"
    vpc_id: str | None = None
    ingress: list[RuleProps] = Field(default_factory=list)
    egress: list[RuleProps] | None = None
    tags: dict[str, str] = Field(default_factory=dict)


def _atoms(rules: list[RuleProps]) -> list[dict[str, Any]]:
    """Rules as sorted single-source entries, the form AWS state is compared in."""
    out: list[dict[str, Any]] = []
    for r in rules:
        proto = "-1" if r.protocol in ("all", "-1") else r.protocol
        lo = r.port if r.from_port is None else r.from_port
        hi = r.port if r.to_port is None else r.to_port
        ports = (None, None) if proto == "-1" else (lo if lo is not None else 0,
                                                     hi if hi is not None else 65535)
        base = {"protocol": proto, "from_port": ports[0], "to_port": ports[1]}
        out += [{**base, "source": f"cidr:{c}"} for c in r.cidr_blocks]
        out += [{**base, "source": f"cidr6:{c}"} for c in r.ipv6_cidr_blocks]
        out += [{**base, "source": f"sg:{g}"} for g in r.security_groups]
        if r.self_:
            out.append({**base, "source": "self"})
    return sorted(out, key=lambda a: (a["protocol"], a["from_port"] or 0, a["source"]))


def _atoms_from_aws(perms: list[dict[str, Any]], own_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in perms:
        proto = str(p.get("IpProtocol", "-1"))
        base = {"protocol": proto, "from_port": None if proto == "-1" else p.get("FromPort"),
                "to_port": None if proto == "-1" else p.get("ToPort")}
        out += [{**base, "source": f"cidr:{r['CidrIp']}"} for r in p.get("IpRanges", [])]
        out += [{**base, "source": f"cidr6:{r['CidrIpv6']}"} for r in p.get("Ipv6Ranges", [])]
        out += [{**base, "source": "self" if g["GroupId"] == own_id else f"sg:{g['GroupId']}"}
                for g in p.get("UserIdGroupPairs", [])]
    return sorted(out, key=lambda a: (a["protocol"], a["from_port"] or 0, a["source"]))


def _perm(atom: dict[str, Any], own_id: str) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": atom["protocol"]}
    if atom["protocol"] != "-1":
        perm.update(FromPort=atom["from_port"], ToPort=atom["to_port"])
    kind, _, value = str(atom["source"]).partition(":")
    if kind == "cidr":
        perm["IpRanges"] = [{"CidrIp": value}]
    elif kind == "cidr6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": value}]
    else:
        perm["UserIdGroupPairs"] = [{"GroupId": own_id if kind == "self" else value}]
    return perm


class SecurityGroupHandler(AwsHandler):
    """A security group whose rules may reference the group itself (``self: true``)."""

    service = "ec2"
    spec = KindSpec(
        "ec2.SecurityGroup", SecurityGroupProps, "an EC2 security group",
        replace_on=frozenset({"name", "description", "vpc_id"}), import_id="the group id (sg-...)",
        attributes={"id": "group id", "arn": "group ARN", "name": "group name"},
        update_changes=frozenset(),
    )

    def compare_form(self, props: Any, given: Any) -> dict[str, Any]:
        out = super().compare_form(props, given)
        if "ingress" in given:
            out["ingress"] = _atoms(props.ingress)
        if "egress" in given:
            out["egress"] = None if props.egress is None else _atoms(props.egress)
        return out

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        if prior is not None and prior.attributes.get("id"):
            return self._read(resource.id, [{"Name": "group-id",
                                              "Values": [prior.attributes["id"]]}])
        by_tag = [{"Name": f"tag:{ADDRESS_TAG}", "Values": [str(resource.id)]}]
        return self._read(resource.id, by_tag)

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        return self._read(resource.id, [{"Name": "group-id", "Values": [import_id]}])

    def _read(self, rid: ResourceId, filters: list[dict[str, Any]]) -> LiveResource | None:
        out = self.call(rid, "describe security groups", self.api.describe_security_groups,
                        Filters=filters)
        if not out["SecurityGroups"]:
            return None
        g = out["SecurityGroups"][0]
        gid = g["GroupId"]
        return LiveResource(rid, {
            "id": gid, "name": g["GroupName"], "description": g.get("Description", ""),
            "vpc_id": g.get("VpcId"), "owner_id": g.get("OwnerId"),
            "arn": f"arn:aws:ec2:{self.aws.region}:{g.get('OwnerId')}:security-group/{gid}",
            "ingress": _atoms_from_aws(g.get("IpPermissions", []), gid),
            "egress": _atoms_from_aws(g.get("IpPermissionsEgress", []), gid),
            "tags": from_tag_list(g.get("Tags")),
        })

    def create(self, change: Change) -> LiveResource:
        p: SecurityGroupProps = self.parse(desired_of(change))
        tag_spec = {"ResourceType": "security-group", "Tags": address_tag_list(change.id, p.tags)}
        kwargs: dict[str, Any] = {"GroupName": p.name, "Description": p.description,
                                  "TagSpecifications": [tag_spec]}
        if p.vpc_id:
            kwargs["VpcId"] = p.vpc_id
        gid = self.call(change.id, f"create security group '{p.name}'",
                        self.api.create_security_group, **kwargs)["GroupId"]
        return self._sync_rules(change.id, gid, p)

    def update(self, change: Change) -> LiveResource:
        p: SecurityGroupProps = self.parse(desired_of(change))
        gid = str(change.prior.attributes["id"]) if change.prior else ""
        self.call(change.id, "tag security group", self.api.create_tags, Resources=[gid],
                  Tags=address_tag_list(change.id, p.tags))
        return self._sync_rules(change.id, gid, p)

    def _sync_rules(self, rid: ResourceId, gid: str, p: SecurityGroupProps) -> LiveResource:
        live = self._read(rid, [{"Name": "group-id", "Values": [gid]}])
        if live is None:
            raise ProviderError(f"security group {gid} vanished", resource=rid)
        self._converge(rid, gid, "ingress", live.attributes["ingress"], _atoms(p.ingress))
        if p.egress is not None:
            self._converge(rid, gid, "egress", live.attributes["egress"], _atoms(p.egress))
        after = self._read(rid, [{"Name": "group-id", "Values": [gid]}])
        assert after is not None
        return after

    def _converge(self, rid: ResourceId, gid: str, way: str, have: list[Any],
                  want: list[Any]) -> None:
        api = self.api
        revoke = [_perm(a, gid) for a in have if a not in want]
        grant = [_perm(a, gid) for a in want if a not in have]
        fn = {"ingress": (api.revoke_security_group_ingress, api.authorize_security_group_ingress),
              "egress": (api.revoke_security_group_egress, api.authorize_security_group_egress)}
        if revoke:
            self.call(rid, f"revoke {way} rules", fn[way][0], GroupId=gid, IpPermissions=revoke)
        if grant:
            self.call(rid, f"authorize {way} rules", fn[way][1], GroupId=gid, IpPermissions=grant)

    def delete(self, prior: LiveResource) -> None:
        """Delete; instances still shutting down hold the group, so wait them out."""
        for attempt in range(30):
            try:
                self.maybe(prior.id, "delete security group", self.api.delete_security_group,
                           GroupId=prior.attributes["id"])
                return
            except ProviderError as exc:
                if exc.code != "DependencyViolation" or attempt == 29:
                    raise
            time.sleep(min(10.0, 1.0 + attempt))




def handlers(aws: AwsClients) -> dict[str, AwsHandler]:
    """This module's kinds, sharing ``aws`` clients."""
    return {"ec2.SecurityGroup": SecurityGroupHandler(aws)}
