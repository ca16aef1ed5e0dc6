"""EC2 networking: ``ec2.Vpc``, ``ec2.Subnet``, ``ec2.InternetGateway``,
``ec2.RouteTable`` and ``ec2.ElasticIp``.

I/O: EC2 API calls through the shared client. Each object is tagged
``driftless:address=<address>`` at creation so ``read`` finds it again
after an interrupted apply; afterwards it is read by id.
"""

from __future__ import annotations

from typing import Any, ClassVar

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
from driftless.providers.aws.ec2_sg import cidr
from driftless.providers.base import KindSpec

__all__ = ["handlers"]


class VpcProps(BaseModel):
    """``ec2.Vpc`` properties."""

    model_config = ConfigDict(extra="forbid")
    cidr_block: str
    enable_dns_hostnames: bool = False
    enable_dns_support: bool = True
    tags: dict[str, str] = Field(default_factory=dict)

    _cidr = field_validator("cidr_block")(classmethod(lambda cls, v: cidr(v)))


class SubnetProps(BaseModel):
    """``ec2.Subnet`` properties."""

    model_config = ConfigDict(extra="forbid")
    vpc_id: str
    cidr_block: str
    availability_zone: str | None = None
    map_public_ip_on_launch: bool = False
    tags: dict[str, str] = Field(default_factory=dict)

    _cidr = field_validator("cidr_block")(classmethod(lambda cls, v: cidr(v)))


class GatewayProps(BaseModel):
    """``ec2.InternetGateway`` properties."""

    model_config = ConfigDict(extra="forbid")
    vpc_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class RouteProps(BaseModel):
    """One route: a destination CIDR to a gateway."""

    model_config = ConfigDict(extra="forbid")
    cidr_block: str
    gateway_id: str

    _cidr = field_validator("cidr_block")(classmethod(lambda cls, v: cidr(v)))


class RouteTableProps(BaseModel):
    """``ec2.RouteTable`` properties."""

    model_config = ConfigDict(extra="forbid")
    vpc_id: str
    routes: list[RouteProps] = Field(default_factory=list)
    subnet_ids: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class ElasticIpProps(BaseModel):
    """``ec2.ElasticIp`` properties."""

    model_config = ConfigDict(extra="forbid")
    instance_id: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class _Tagged(AwsHandler):
    """An EC2 object read by id once known, by its address tag before."""

    service = "ec2"
    describe: ClassVar[str]
    result_key: ClassVar[str]
    id_filter: ClassVar[str]
    id_key: ClassVar[str]
    resource_type: ClassVar[str]

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        if prior is not None and prior.attributes.get("id"):
            return self._by(resource.id, self.id_filter, str(prior.attributes["id"]))
        return self._by(resource.id, f"tag:{ADDRESS_TAG}", str(resource.id))

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        return self._by(resource.id, self.id_filter, import_id)

    def _by(self, rid: ResourceId, name: str, value: str) -> LiveResource | None:
        out = self.call(rid, self.describe.replace("_", " "), getattr(self.api, self.describe),
                        Filters=[{"Name": name, "Values": [value]}])
        items = [o for o in out[self.result_key] if o.get("State") != "deleted"]
        return LiveResource(rid, self.attrs(items[0])) if items else None

    def attrs(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Attributes from one described object."""
        return {"id": obj[self.id_key], "tags": from_tag_list(obj.get("Tags"))}

    def tag_spec(self, rid: ResourceId, tags: dict[str, str]) -> list[dict[str, Any]]:
        """``TagSpecifications`` with the address tag added."""
        return [{"ResourceType": self.resource_type, "Tags": address_tag_list(rid, tags)}]

    def reread(self, rid: ResourceId, oid: str) -> LiveResource:
        """The object just written, or an error when it vanished."""
        live = self._by(rid, self.id_filter, oid)
        if live is None:
            raise ProviderError(f"{oid} vanished right after it was written", resource=rid)
        return live

    def retag(self, change: Change, tags: dict[str, str]) -> str:
        """Set tags on the existing object; its id."""
        oid = str(change.prior.attributes["id"]) if change.prior else ""
        self.call(change.id, "tag", self.api.create_tags, Resources=[oid],
                  Tags=address_tag_list(change.id, tags))
        return oid


class VpcHandler(_Tagged):
    """A VPC."""

    describe, result_key, id_filter, id_key = "describe_vpcs", "Vpcs", "vpc-id", "VpcId"
    resource_type = "vpc"
    spec = KindSpec("ec2.Vpc", VpcProps, "a VPC", replace_on=frozenset({"cidr_block"}),
                    import_id="vpc id", attributes={"id": "vpc id"},
                    update_changes=frozenset())

    def attrs(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {**super().attrs(obj), "cidr_block": obj["CidrBlock"],
                "owner_id": obj.get("OwnerId")}

    def create(self, change: Change) -> LiveResource:
        p: VpcProps = self.parse(desired_of(change))
        vid = self.call(change.id, "create vpc", self.api.create_vpc, CidrBlock=p.cidr_block,
                        TagSpecifications=self.tag_spec(change.id, p.tags))["Vpc"]["VpcId"]
        self._dns(change.id, vid, p)
        return self.reread(change.id, vid)

    def _dns(self, rid: ResourceId, vid: str, p: VpcProps) -> None:
        self.call(rid, "set dns support", self.api.modify_vpc_attribute, VpcId=vid,
                  EnableDnsSupport={"Value": p.enable_dns_support})
        self.call(rid, "set dns hostnames", self.api.modify_vpc_attribute, VpcId=vid,
                  EnableDnsHostnames={"Value": p.enable_dns_hostnames})

    def _by(self, rid: ResourceId, name: str, value: str) -> LiveResource | None:
        live = super()._by(rid, name, value)
        if live is None:
            return None
        vid = live.attributes["id"]
        flags = {k: self.call(rid, "describe vpc attribute", self.api.describe_vpc_attribute,
                              VpcId=vid, Attribute=a)[k]["Value"]
                 for a, k in (("enableDnsSupport", "EnableDnsSupport"),
                              ("enableDnsHostnames", "EnableDnsHostnames"))}
        return LiveResource(rid, {**live.attributes,
                                  "enable_dns_support": flags["EnableDnsSupport"],
                                  "enable_dns_hostnames": flags["EnableDnsHostnames"]})

    def update(self, change: Change) -> LiveResource:
        p: VpcProps = self.parse(desired_of(change))
        vid = self.retag(change, p.tags)
        self._dns(change.id, vid, p)
        return self.reread(change.id, vid)

    def delete(self, prior: LiveResource) -> None:
        self.maybe(prior.id, "delete vpc", self.api.delete_vpc, VpcId=prior.attributes["id"])


class SubnetHandler(_Tagged):
    """A subnet of a VPC."""

    describe, result_key, id_filter, id_key = "describe_subnets", "Subnets", "subnet-id", "SubnetId"
    resource_type = "subnet"
    spec = KindSpec("ec2.Subnet", SubnetProps, "a VPC subnet",
                    replace_on=frozenset({"vpc_id", "cidr_block", "availability_zone"}),
                    import_id="subnet id", attributes={"id": "subnet id"},
                    update_changes=frozenset())

    def attrs(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {**super().attrs(obj), "vpc_id": obj["VpcId"], "cidr_block": obj["CidrBlock"],
                "availability_zone": obj.get("AvailabilityZone"),
                "map_public_ip_on_launch": bool(obj.get("MapPublicIpOnLaunch"))}

    def create(self, change: Change) -> LiveResource:
        p: SubnetProps = self.parse(desired_of(change))
        kwargs: dict[str, Any] = {"VpcId": p.vpc_id, "CidrBlock": p.cidr_block,
                                  "TagSpecifications": self.tag_spec(change.id, p.tags)}
        if p.availability_zone:
            kwargs["AvailabilityZone"] = p.availability_zone
        sid = self.call(change.id, "create subnet", self.api.create_subnet,
                        **kwargs)["Subnet"]["SubnetId"]
        self._public(change.id, sid, p)
        return self.reread(change.id, sid)

    def _public(self, rid: ResourceId, sid: str, p: SubnetProps) -> None:
        self.call(rid, "set public ip on launch", self.api.modify_subnet_attribute,
                  SubnetId=sid, MapPublicIpOnLaunch={"Value": p.map_public_ip_on_launch})

    def update(self, change: Change) -> LiveResource:
        p: SubnetProps = self.parse(desired_of(change))
        sid = self.retag(change, p.tags)
        self._public(change.id, sid, p)
        return self.reread(change.id, sid)

    def delete(self, prior: LiveResource) -> None:
        self.maybe(prior.id, "delete subnet", self.api.delete_subnet,
                   SubnetId=prior.attributes["id"])


class GatewayHandler(_Tagged):
    """An internet gateway, attached to (at most) one VPC."""

    describe, result_key = "describe_internet_gateways", "InternetGateways"
    id_filter, id_key = "internet-gateway-id", "InternetGatewayId"
    resource_type = "internet-gateway"
    spec = KindSpec("ec2.InternetGateway", GatewayProps, "an internet gateway",
                    import_id="igw id", attributes={"id": "gateway id"},
                    update_changes=frozenset())

    def attrs(self, obj: dict[str, Any]) -> dict[str, Any]:
        vpcs = [a["VpcId"] for a in obj.get("Attachments", [])]
        return {**super().attrs(obj), "vpc_id": vpcs[0] if vpcs else None}

    def create(self, change: Change) -> LiveResource:
        p: GatewayProps = self.parse(desired_of(change))
        gid = self.call(change.id, "create internet gateway", self.api.create_internet_gateway,
                        TagSpecifications=self.tag_spec(change.id, p.tags)
                        )["InternetGateway"]["InternetGatewayId"]
        self._attach(change.id, gid, None, p.vpc_id)
        return self.reread(change.id, gid)

    def _attach(self, rid: ResourceId, gid: str, old: str | None, new: str | None) -> None:
        if old and old != new:
            self.call(rid, "detach gateway", self.api.detach_internet_gateway,
                      InternetGatewayId=gid, VpcId=old)
        if new and new != old:
            self.call(rid, "attach gateway", self.api.attach_internet_gateway,
                      InternetGatewayId=gid, VpcId=new)

    def update(self, change: Change) -> LiveResource:
        p: GatewayProps = self.parse(desired_of(change))
        gid = self.retag(change, p.tags)
        old = change.prior.attributes.get("vpc_id") if change.prior else None
        self._attach(change.id, gid, old, p.vpc_id)
        return self.reread(change.id, gid)

    def delete(self, prior: LiveResource) -> None:
        gid = str(prior.attributes["id"])
        if prior.attributes.get("vpc_id"):
            self.maybe(prior.id, "detach gateway", self.api.detach_internet_gateway,
                       InternetGatewayId=gid, VpcId=prior.attributes["vpc_id"])
        self.maybe(prior.id, "delete gateway", self.api.delete_internet_gateway,
                   InternetGatewayId=gid)


class RouteTableHandler(_Tagged):
    """A route table with routes to gateways, associated with subnets."""

    describe, result_key = "describe_route_tables", "RouteTables"
    id_filter, id_key, resource_type = "route-table-id", "RouteTableId", "route-table"
    spec = KindSpec("ec2.RouteTable", RouteTableProps, "a route table",
                    replace_on=frozenset({"vpc_id"}), import_id="route table id",
                    attributes={"id": "route table id"}, update_changes=frozenset())

    def attrs(self, obj: dict[str, Any]) -> dict[str, Any]:
        routes = [{"cidr_block": r["DestinationCidrBlock"], "gateway_id": r["GatewayId"]}
                  for r in obj.get("Routes", [])
                  if r.get("GatewayId", "local") != "local" and "DestinationCidrBlock" in r]
        subnets = sorted(a["SubnetId"] for a in obj.get("Associations", []) if a.get("SubnetId"))
        return {**super().attrs(obj), "vpc_id": obj["VpcId"], "subnet_ids": subnets,
                "routes": sorted(routes, key=lambda r: r["cidr_block"]),
                "associations": {a["SubnetId"]: a["RouteTableAssociationId"]
                                 for a in obj.get("Associations", []) if a.get("SubnetId")}}

    def compare_form(self, props: Any, given: Any) -> dict[str, Any]:
        out = super().compare_form(props, given)
        if "routes" in given:
            out["routes"] = sorted(out["routes"], key=lambda r: r["cidr_block"])
        if "subnet_ids" in given:
            out["subnet_ids"] = sorted(out["subnet_ids"])
        return out

    def create(self, change: Change) -> LiveResource:
        p: RouteTableProps = self.parse(desired_of(change))
        tid = self.call(change.id, "create route table", self.api.create_route_table,
                        VpcId=p.vpc_id, TagSpecifications=self.tag_spec(change.id, p.tags)
                        )["RouteTable"]["RouteTableId"]
        return self._converge(change.id, tid, p)

    def update(self, change: Change) -> LiveResource:
        p: RouteTableProps = self.parse(desired_of(change))
        return self._converge(change.id, self.retag(change, p.tags), p)

    def _converge(self, rid: ResourceId, tid: str, p: RouteTableProps) -> LiveResource:
        have, api = self.reread(rid, tid).attributes, self.api
        want = {r.cidr_block: r.gateway_id for r in p.routes}
        old = {r["cidr_block"]: r["gateway_id"] for r in have["routes"]}
        for dest in sorted(set(old) - set(want)):
            self.call(rid, f"delete route {dest}", api.delete_route, RouteTableId=tid,
                      DestinationCidrBlock=dest)
        for dest, gw in sorted(want.items()):
            if old.get(dest) != gw:
                fn = api.replace_route if dest in old else api.create_route
                self.call(rid, f"route {dest}", fn, RouteTableId=tid,
                          DestinationCidrBlock=dest, GatewayId=gw)
        for sid, assoc in have["associations"].items():
            if sid not in p.subnet_ids:
                self.call(rid, "disassociate subnet", api.disassociate_route_table,
                          AssociationId=assoc)
        for sid in sorted(set(p.subnet_ids) - set(have["associations"])):
            self.call(rid, f"associate {sid}", api.associate_route_table, RouteTableId=tid,
                      SubnetId=sid)
        return self.reread(rid, tid)

    def delete(self, prior: LiveResource) -> None:
        live = self._by(prior.id, self.id_filter, str(prior.attributes["id"]))
        if live is None:
            return
        for assoc in live.attributes["associations"].values():
            self.maybe(prior.id, "disassociate", self.api.disassociate_route_table,
                       AssociationId=assoc)
        self.maybe(prior.id, "delete route table", self.api.delete_route_table,
                   RouteTableId=prior.attributes["id"])


class ElasticIpHandler(_Tagged):
    """An elastic IP, optionally associated with an instance."""

    describe, result_key, id_filter, id_key = "describe_addresses", "Addresses", "allocation-id", \
        "AllocationId"
    resource_type = "elastic-ip"
    spec = KindSpec("ec2.ElasticIp", ElasticIpProps, "an elastic IP address",
                    import_id="allocation id",
                    attributes={"id": "allocation id", "public_ip": "the address"},
                    update_changes=frozenset())

    def attrs(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {**super().attrs(obj), "public_ip": obj.get("PublicIp"),
                "instance_id": obj.get("InstanceId"),
                "association_id": obj.get("AssociationId")}

    def create(self, change: Change) -> LiveResource:
        p: ElasticIpProps = self.parse(desired_of(change))
        aid = self.call(change.id, "allocate address", self.api.allocate_address, Domain="vpc",
                        TagSpecifications=self.tag_spec(change.id, p.tags))["AllocationId"]
        return self._associate(change.id, aid, p)

    def update(self, change: Change) -> LiveResource:
        p: ElasticIpProps = self.parse(desired_of(change))
        return self._associate(change.id, self.retag(change, p.tags), p)

    def _associate(self, rid: ResourceId, aid: str, p: ElasticIpProps) -> LiveResource:
        have = self.reread(rid, aid).attributes
        if have.get("association_id") and have.get("instance_id") != p.instance_id:
            self.call(rid, "disassociate address", self.api.disassociate_address,
                      AssociationId=have["association_id"])
        if p.instance_id and have.get("instance_id") != p.instance_id:
            self.call(rid, "associate address", self.api.associate_address,
                      AllocationId=aid, InstanceId=p.instance_id)
        return self.reread(rid, aid)

    def delete(self, prior: LiveResource) -> None:
        if prior.attributes.get("association_id"):
            self.maybe(prior.id, "disassociate address", self.api.disassociate_address,
                       AssociationId=prior.attributes["association_id"])
        self.maybe(prior.id, "release address", self.api.release_address,
                   AllocationId=prior.attributes["id"])


def handlers(aws: AwsClients) -> dict[str, AwsHandler]:
    """This module's kinds, sharing ``aws`` clients."""
    return {"ec2.Vpc": VpcHandler(aws), "ec2.Subnet": SubnetHandler(aws),
            "ec2.InternetGateway": GatewayHandler(aws), "ec2.RouteTable": RouteTableHandler(aws),
            "ec2.ElasticIp": ElasticIpHandler(aws)}
