"""Helpers for AWS tests: a configured provider and a create/read/diff loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftless.model import Action, Change, LiveResource, Resource, ResourceId
from driftless.providers.aws import AwsProvider

__all__ = ["converge", "make_provider", "res"]


def make_provider(endpoint: str) -> AwsProvider:
    """An AwsProvider pointed at the moto endpoint."""
    p = AwsProvider()
    p.configure({"region": "us-east-1", "endpoint_url": endpoint})
    return p


def res(kind: str, name: str, props: Mapping[str, Any], index: int | None = None) -> Resource:
    """A desired aws resource."""
    return Resource(ResourceId("aws", kind, name, index), dict(props))


def converge(p: AwsProvider, r: Resource, prior: LiveResource | None = None) -> tuple[
        Change, LiveResource | None]:
    """read → diff → apply, as the engine does; the change and the result."""
    live = p.read(r, prior)
    change = p.diff(r, live)
    if change.action is Action.NOOP:
        return change, live
    return change, p.apply(change)
