"""Peer discovery: by EC2 tags, by a static list, or by membership in the fleet store.

I/O: EC2 ``DescribeInstances`` (boto3) for tag queries, the ``Coordinator``
for membership; none for static lists. A peer spec is a map with one of::

    tags:    {SynktiCluster: synkti, SynktiRole: worker}   running instances so tagged
    static:  [{name: a, address: 10.0.0.1}, "b=10.0.0.2"]
    members: {role: worker}                                live members whose tags match

The result is sorted by name; the node itself is marked ``self``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from driftless.errors import ConfigError
from driftless.fleet.base import Coordinator
from driftless.fleet.node import selects
from driftless.records import record

__all__ = ["Peer", "resolve_peers"]


@record
class Peer:
    """One row of the peer table."""

    name: str
    address: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    source: str = "static"
    revision: str = ""
    self: bool = False

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "tags": dict(self.tags),
                "source": self.source, "revision": self.revision, "self": self.self}


def _by_tags(query: Mapping[str, Any], ec2: Any) -> list[Peer]:
    filters = [{"Name": f"tag:{k}", "Values": [v.strip() for v in str(want).split("|")]}
               for k, want in query.items()]
    filters.append({"Name": "instance-state-name", "Values": ["pending", "running"]})
    peers = []
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for res in page.get("Reservations", []):
            for inst in res.get("Instances", []):
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                peers.append(Peer(inst["InstanceId"], inst.get("PrivateIpAddress", ""), tags,
                                  "ec2"))
    return peers


def _static(items: Sequence[Any]) -> list[Peer]:
    peers = []
    for item in items:
        if isinstance(item, Mapping) and item.get("name"):
            peers.append(Peer(str(item["name"]), str(item.get("address", "")),
                              {str(k): str(v) for k, v in (item.get("tags") or {}).items()}))
        elif isinstance(item, str):
            name, _, address = item.partition("=")
            peers.append(Peer(name, address))
        else:
            raise ConfigError(f"static peer {item!r}: write name=address or {{name, address}}")
    return peers


def _members(selector: Any, coord: Coordinator | None) -> list[Peer]:
    if coord is None:
        raise ConfigError("peers by membership need a fleet store (DRIFTLESS_FLEET)")
    wanted = selector if isinstance(selector, Mapping) else {}
    return [Peer(m.node, m.address, m.tags, "members", m.revision)
            for m in coord.members() if selects(wanted, m.tags)]


def resolve_peers(spec: Mapping[str, Any], *, me: str = "", coord: Coordinator | None = None,
                  ec2: Any = None, region: str | None = None) -> list[Peer]:
    """The peer table ``spec`` asks for (see the module docstring)."""
    if "tags" in spec:
        if ec2 is None:
            import boto3

            ec2 = boto3.client("ec2", region_name=region)
        found = _by_tags(spec["tags"], ec2)
    elif "static" in spec:
        found = _static(spec["static"] or [])
    elif "members" in spec:
        found = _members(spec["members"], coord)
    else:
        raise ConfigError(f"peers: expected one of tags, static, members; got {sorted(spec)}")
    return sorted((Peer(p.name, p.address, p.tags, p.source, p.revision, p.name == me)
                   for p in found), key=lambda p: p.name)
