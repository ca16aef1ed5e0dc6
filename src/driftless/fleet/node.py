"""Who this node is (name, tags, address) and which stacks select it.

I/O: reads the operator's node file, the environment, and EC2 instance
metadata (IMDSv2: a session token first, then the metadata paths) plus the
instance's tags through EC2 ``DescribeTags``. All of these are operator
inputs, trusted; the repository only *matches* against them.

Selection: a stack's ``select: {role: worker, gpu: "a10g|l4"}`` matches a
node whose every named tag equals one of the ``|``-separated alternatives;
``"*"`` only asks that the tag exists. An empty or missing ``select``
matches every node.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
import yaml

from driftless.errors import ConfigError
from driftless.records import record

__all__ = ["NodeIdentity", "from_imds", "identify", "instance_tags", "parse_tags", "selects"]

IMDS = "http://169.254.169.254"


@record
class NodeIdentity:
    """A node as fleet mode and ``node.*`` in render see it."""

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    address: str = ""
    source: str = "host"

    def values(self) -> dict[str, Any]:
        """The ``node.*`` values: name, address, tags (and each tag as ``node.tags.KEY``)."""
        return {"name": self.name, "address": self.address, "tags": dict(self.tags)}


def parse_tags(text: str) -> dict[str, str]:
    """``role=worker,gpu=l4`` → ``{"role": "worker", "gpu": "l4"}``."""
    tags: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"node tag {part!r} is not KEY=VALUE",
                              hint="write DRIFTLESS_NODE_TAGS=role=worker,gpu=l4")
        tags[key.strip()] = value.strip()
    return tags


def _from_file(path: Path) -> NodeIdentity:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"node file {path}: {exc}") from exc
    if not isinstance(doc, Mapping) or not doc.get("name"):
        raise ConfigError(f"node file {path}: needs 'name:' (and optional 'tags:', 'address:')")
    tags = doc.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise ConfigError(f"node file {path}: 'tags' must be a map")
    return NodeIdentity(str(doc["name"]), {str(k): str(v) for k, v in tags.items()},
                        str(doc.get("address", "")), f"file {path}")


def from_imds(endpoint: str = IMDS, *, region: str | None = None,
              ec2: Any = None, timeout: float = 2.0) -> NodeIdentity:
    """The instance's id, private address and tags (IMDSv2, then EC2 DescribeTags)."""
    try:
        with httpx.Client(base_url=endpoint, timeout=timeout) as http:
            token = http.put("/latest/api/token",
                             headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"}).text
            headers = {"X-aws-ec2-metadata-token": token}

            def get(path: str) -> str:
                resp = http.get(f"/latest/meta-data/{path}", headers=headers)
                resp.raise_for_status()
                return resp.text
            instance, address = get("instance-id"), get("local-ipv4")
            region = region or get("placement/region")
    except httpx.HTTPError as exc:
        raise ConfigError(f"instance metadata at {endpoint}: {exc}",
                          hint="is this an EC2 instance with IMDSv2 reachable?") from exc
    return NodeIdentity(instance, instance_tags(instance, region, ec2), address, "ec2")


def instance_tags(instance: str, region: str, ec2: Any) -> dict[str, str]:
    if ec2 is None:
        import boto3

        ec2 = boto3.client("ec2", region_name=region)
    out = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])
    return {t["Key"]: t["Value"] for t in out.get("Tags", [])}


def identify(environ: Mapping[str, str] | None = None) -> NodeIdentity:
    """This node: ``DRIFTLESS_NODE_FILE``, else ``DRIFTLESS_NODE_IMDS`` (an endpoint, or
    ``1`` for the real one), else ``DRIFTLESS_NODE_NAME`` (default: the host name) with
    ``DRIFTLESS_NODE_TAGS``; ``DRIFTLESS_NODE_ADDRESS`` sets the address."""
    env = os.environ if environ is None else environ
    if env.get("DRIFTLESS_NODE_FILE"):
        return _from_file(Path(env["DRIFTLESS_NODE_FILE"]))
    if env.get("DRIFTLESS_NODE_IMDS"):
        endpoint = IMDS if env["DRIFTLESS_NODE_IMDS"] == "1" else env["DRIFTLESS_NODE_IMDS"]
        return from_imds(endpoint, region=env.get("AWS_DEFAULT_REGION"))
    return NodeIdentity(env.get("DRIFTLESS_NODE_NAME") or socket.gethostname(),
                        parse_tags(env.get("DRIFTLESS_NODE_TAGS", "")),
                        env.get("DRIFTLESS_NODE_ADDRESS", ""), "environment")


def selects(selector: Any, tags: Mapping[str, str]) -> bool:
    """Whether ``selector`` (a map of tag → alternatives) matches ``tags``."""
    if not selector:
        return True
    if not isinstance(selector, Mapping):
        raise ConfigError(f"select must be a map of tag: value, not {json.dumps(selector)}",
                          hint='write select: {role: worker, gpu: "a10g|l4"}')
    for key, wanted in selector.items():
        have = tags.get(str(key))
        if have is None:
            return False
        alternatives = [a.strip() for a in str(wanted).split("|")]
        if "*" not in alternatives and have not in alternatives:
            return False
    return True
