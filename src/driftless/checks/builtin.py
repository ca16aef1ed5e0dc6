"""The built-in rules: common ways a plan opens a hole or loses data.

Each rule looks at the desired properties of one change (deletes: at what
is going away). Values known only after apply are not judged; secret values
(``Sensitive``) are never plaintext by construction. Pure functions.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from driftless.checks.api import Rule, Severity, Subject, rule
from driftless.model import Action
from driftless.model.values import Deferred, Sensitive, Unknown
from driftless.secrets.scan import looks_secret, scan_text

__all__ = ["BUILTIN_RULES", "STATEFUL_TYPES"]

_WORLD = ("0.0.0.0/0", "::/0")
_ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
STATEFUL_TYPES = frozenset({
    "aws:s3.Bucket", "aws:dynamodb.Table", "aws:ec2.ElasticIp", "local:directory",
})
"""Kinds whose delete or replacement loses data (or an address) that cannot come back."""

_SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey",
                 "private_key", "access_key", "credential")
_ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def _opens_world(cidr: Any) -> bool:
    if not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return cidr in _WORLD


def _ports(entry: Mapping[str, Any]) -> range | None:
    """The ports an ingress entry opens (None: unknown)."""
    protocol = str(entry.get("protocol", "tcp"))
    if protocol in ("-1", "all"):
        return range(0, 65536)
    if protocol != "tcp":
        return range(0)
    port = entry.get("port")
    low = entry.get("from_port", port)
    high = entry.get("to_port", low)
    if low is None:
        return range(0, 65536)
    if not isinstance(low, int) or not isinstance(high, int):
        return None
    return range(0, 65536) if low == -1 else range(low, high + 1)


@rule("DL001", title="SSH or RDP open to the whole internet", types=["aws:ec2.SecurityGroup"])
def admin_ports_open(subject: Subject) -> Iterator[str]:
    if subject.type != "aws:ec2.SecurityGroup":
        return
    for n, entry in enumerate(subject.get("ingress") or ()):
        if not isinstance(entry, Mapping):
            continue
        world = [c for c in [*(entry.get("cidr_blocks") or ()),
                             *(entry.get("ipv6_cidr_blocks") or ())] if _opens_world(c)]
        ports = _ports(entry)
        if not world or ports is None:
            continue
        for port, name in _ADMIN_PORTS.items():
            if port in ports:
                yield f"ingress[{n}] opens {name} (port {port}) to {world[0]}"


@rule("DL002", title="S3 bucket open to the public", types=["aws:s3.Bucket"])
def bucket_public(subject: Subject) -> Iterator[str]:
    if subject.type == "aws:s3.Bucket" and subject.get("public_access_block") is False:
        yield "public_access_block is false: the bucket may be made public"
    acl = subject.get("acl")
    if subject.type == "aws:s3.Bucket" and acl in ("public-read", "public-read-write"):
        yield f"acl {acl} makes every object readable by anyone"


@rule("DL003", severity=Severity.WARNING, title="S3 bucket without server-side encryption",
      types=["aws:s3.Bucket"])
def bucket_unencrypted(subject: Subject) -> Iterator[str]:
    if subject.type == "aws:s3.Bucket" and not subject.get("encryption"):
        yield "no encryption set (give encryption: AES256 or aws:kms)"


def _statements(policy: Any) -> list[Mapping[str, Any]]:
    if not isinstance(policy, Mapping):
        return []
    found = policy.get("Statement", [])
    found = [found] if isinstance(found, Mapping) else found
    return [s for s in found if isinstance(s, Mapping)] if isinstance(found, list) else []


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@rule("DL004", title="IAM policy allowing every action on every resource",
      types=["aws:iam.PolicyAttachment", "aws:iam.RolePolicy", "aws:iam.Policy"])
def iam_star(subject: Subject) -> Iterator[str]:
    if subject.type == "aws:iam.PolicyAttachment" and \
            subject.get("policy_arn") == _ADMIN_POLICY:
        yield "attaches AdministratorAccess (*:* on *)"
    if subject.type not in ("aws:iam.RolePolicy", "aws:iam.Policy"):
        return
    for n, stmt in enumerate(_statements(subject.get("policy"))):
        actions = _as_list(stmt.get("Action"))
        if stmt.get("Effect") == "Allow" and {"*", "*:*"} & set(map(str, actions)) and \
                "*" in _as_list(stmt.get("Resource")):
            yield f"Statement[{n}] allows Action * on Resource *"


_PLAIN = frozenset({bool, int, float, type(None)})


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its dotted path; secrets and values not
    known yet are not looked into."""
    if value.__class__ is dict:  # properties: a plain dict, asked per resource per plan
        for key, item in value.items():
            if item.__class__ in _PLAIN:
                continue
            inner = f"{path}.{key}" if path else str(key)
            if item.__class__ is str:
                yield inner, item
            else:
                yield from _strings(item, inner)
        return
    if isinstance(value, Sensitive | Unknown | Deferred):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            yield from _strings(item, f"{path}.{n}")
    elif isinstance(value, str):
        yield path, value


@functools.lru_cache(maxsize=4096)
def _secret_leaf(path: str) -> bool:
    """Whether the last key of ``path`` names a secret (asked per property per resource:
    a 10,000-resource plan repeats the same few paths)."""
    leaf = path.rsplit(".", 1)[-1].lower()
    return any(word in leaf for word in _SECRET_WORDS)


@rule("DL005", title="plaintext secret in properties")
def plaintext_secret(subject: Subject) -> Iterator[str]:
    for path, text in _strings(subject.properties, ""):
        if _secret_leaf(path) and looks_secret(text):
            yield f"{path} holds a literal secret: take it from ${{secret...}} or a SOPS file"
        elif found := scan_text(path, text):
            yield f"{path} holds what looks like a {found[0].kind}"


@rule("DL006", title="deletion of a protected or stateful resource", sees_deletes=True,
      actions=[Action.DELETE, Action.REPLACE])
def stateful_deleted(subject: Subject) -> Iterator[str]:
    if subject.action not in (Action.DELETE, Action.REPLACE) or subject.destroying:
        return
    verb = "deletes" if subject.action is Action.DELETE else "replaces"
    if subject.protected:
        yield f"{verb} a protected resource"
    elif subject.type in STATEFUL_TYPES:
        yield f"{verb} {subject.type} {subject.change.id.name}, whose data does not come back"


@rule("DL007", severity=Severity.WARNING, title="EC2 instance without IMDSv2",
      types=["aws:ec2.Instance"])
def instance_imdsv2(subject: Subject) -> Iterator[str]:
    if subject.type == "aws:ec2.Instance" and \
            subject.get("metadata_options.http_tokens") != "required":
        yield "instance metadata accepts IMDSv1 (set metadata_options.http_tokens: required)"


BUILTIN_RULES: tuple[Rule, ...] = (admin_ports_open, bucket_public, bucket_unencrypted, iam_star,
                                   plaintext_secret, stateful_deleted, instance_imdsv2)
