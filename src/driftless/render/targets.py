"""Targets: which machine a stack's or a resource's host kinds act on.

``target:`` on a stack or a resource is ``local`` (the default), an
``ssh://user@host:port`` URL, the name of a host or of a group of
driftless.yaml's ``inventory:``, or (stacks only) a list of those, where an
item may also be a map ``{name, target, vars}`` -- so a target can come from
another stack's outputs (``${stack.fleet.outputs.hosts}``: instances found
by a lookup), and the next render picks up hosts that appeared.

A stack whose target is a group or a list renders once per host: each
resource is named ``<name>.<host>`` and its expressions see ``host.name``,
``host.target``, ``host.address``, ``host.port``, ``host.user`` and
``host.vars.*``; its outputs become maps by host. A ``local:`` kind aimed
at an SSH host becomes the same kind of the ``ssh`` provider with the URL
in its ``ssh_target`` property. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

from driftless.errors import Problem
from driftless.records import record
from driftless.render.yamlio import Loc, problem_at, where

__all__ = ["LOCAL", "Host", "hosts_of", "is_multi", "parse_inventory"]

_HOST_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


@record
class Host:
    """One machine a stack renders for; ``target`` is ``local`` or an ssh:// URL."""

    name: str
    target: str = "local"
    vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> bool:
        return self.target == "local"

    def scope(self) -> dict[str, Any]:
        """What ``${host.*}`` sees."""
        parts = urlsplit(self.target) if not self.local else None
        return {"name": self.name, "target": self.target,
                "address": parts.hostname if parts else "localhost",
                "port": (parts.port or 22) if parts else None,
                "user": parts.username if parts else None, "vars": dict(self.vars)}


LOCAL = Host("local")


def parse_inventory(raw: Any, loc: Loc | None, problems: list[Problem]) -> dict[str, Any]:
    """driftless.yaml's ``inventory:`` checked: ``hosts`` (name → {target, vars}) and
    ``groups`` (name → host names); returned as plain maps."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(problem_at("'inventory' must be a map with hosts: and groups:", loc))
        return {}
    hosts: dict[str, Any] = {}
    for name, body in (raw.get("hosts") or {}).items():
        at = where(raw.get("hosts"), name)
        body = {"target": body} if isinstance(body, str) else body
        if not _HOST_NAME.match(str(name)) or not isinstance(body, Mapping) \
                or not _good_target(body.get("target")):
            problems.append(problem_at(
                f"inventory host '{name}' needs a name of letters, digits, '_' and '-' and a "
                "target: ssh://user@host:port (or local)", at))
            continue
        hosts[str(name)] = {"target": str(body["target"]), "vars": dict(body.get("vars") or {})}
    groups: dict[str, list[str]] = {}
    for name, members in (raw.get("groups") or {}).items():
        at = where(raw.get("groups"), name)
        unknown = [m for m in members or [] if str(m) not in hosts] \
            if isinstance(members, list) else ["(not a list)"]
        if unknown or str(name) in hosts:
            problems.append(problem_at(
                f"inventory group '{name}' must list hosts of inventory.hosts "
                f"(unknown: {', '.join(map(str, unknown)) or 'none'}) and not reuse a host name",
                at))
            continue
        groups[str(name)] = [str(m) for m in members]
    return {"hosts": hosts, "groups": groups}


def _good_target(value: Any) -> bool:
    if value == "local":
        return True
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme == "ssh" and bool(parts.hostname)


def is_multi(value: Any, inventory: Mapping[str, Any]) -> bool:
    """Whether a stack target repeats the stack per host (a group or a list)."""
    return isinstance(value, list) or (isinstance(value, str)
                                       and value in inventory.get("groups", {}))


def hosts_of(value: Any, inventory: Mapping[str, Any], loc: Loc | None,
             problems: list[Problem]) -> list[Host]:
    """The hosts a target value names, in order, without repeats."""
    if value is None or value == "local":
        return [LOCAL]
    items = value if isinstance(value, list) else [value]
    out: dict[str, Host] = {}
    for item in items:
        for host in _one(item, inventory, loc, problems):
            out.setdefault(host.name, host)
    return list(out.values())


def _one(item: Any, inventory: Mapping[str, Any], loc: Loc | None,
         problems: list[Problem]) -> list[Host]:
    hosts, groups = inventory.get("hosts", {}), inventory.get("groups", {})
    if isinstance(item, Mapping) and _good_target(item.get("target")):
        name = str(item.get("name") or _name_of(str(item["target"])))
        return [Host(name, str(item["target"]), dict(item.get("vars") or {}))]
    if isinstance(item, str) and item in groups:
        return [Host(h, hosts[h]["target"], hosts[h]["vars"]) for h in groups[item]]
    if isinstance(item, str) and item in hosts:
        return [Host(item, hosts[item]["target"], hosts[item]["vars"])]
    if item == "local":
        return [LOCAL]
    if isinstance(item, str) and _good_target(item):
        return [Host(_name_of(item), item)]
    known = sorted([*hosts, *groups])
    problems.append(problem_at(
        f"target {item!r} is not local, an ssh:// URL, or a host or group of the inventory",
        loc, hint=f"inventory names: {', '.join(known)}" if known else
        "declare hosts under inventory: in driftless.yaml, or write ssh://user@host:port"))
    return []


def _name_of(url: str) -> str:
    """A host name usable in addresses, from a URL: ``10.0.0.5:2222`` → ``10-0-0-5-2222``."""
    parts = urlsplit(url)
    text = f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)
