"""The shared shape of every AWS kind: clients, typed diff, tag helpers.

No I/O of its own: handlers call AWS through ``AwsClients`` and ``call``.
Live attributes keep the properties in their normalised (schema-dumped)
form, so the diff compares like with like; ids and ARNs sit next to them
for references such as ``${sg.id}`` or ``${bucket.arn}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, Resource, ResourceId, contains_unknown
from driftless.providers.aws._client import AwsClients, aws_error, call, is_not_found
from driftless.providers.base import KindHandler, diff_properties

__all__ = ["AwsHandler", "desired_of", "from_tag_list", "to_tag_list"]

T = TypeVar("T")

ADDRESS_TAG = "driftless:address"


def to_tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``{k: v}`` → ``[{"Key": k, "Value": v}]`` in key order."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def from_tag_list(
    tags: Iterable[Mapping[str, str]] | None, *, hide_own: bool = True
) -> dict[str, str]:
    """``[{"Key", "Value"}]`` → ``{k: v}``; driftless's own tag hidden by default."""
    out = {t["Key"]: t.get("Value", "") for t in tags or ()}
    if hide_own:
        out.pop(ADDRESS_TAG, None)
    return out


def desired_of(change: Change) -> Resource:
    """The desired resource of a create/update (always set for those)."""
    if change.desired is None:
        raise ProviderError("change has no desired resource", resource=change.id)
    return change.desired


class AwsHandler(KindHandler):
    """A kind backed by AWS: ``self.aws`` gives the shared clients."""

    service: str = ""

    def __init__(self, aws: AwsClients) -> None:
        self.aws = aws

    @property
    def api(self) -> Any:
        """The client of this handler's service."""
        return self.aws.client(self.service)

    def call(self, rid: ResourceId, what: str, fn: Callable[..., T], /, **kw: Any) -> T:
        """An AWS call whose errors name ``rid`` and the AWS code."""
        return call(rid, what, fn, **kw)

    def maybe(self, rid: ResourceId, what: str, fn: Callable[..., T], /, **kw: Any) -> T | None:
        """Like ``call``, but None when AWS says the object does not exist."""
        try:
            return fn(**kw)
        except ClientError as exc:
            if is_not_found(exc):
                return None
            raise aws_error(rid, what, exc) from None
        except Exception as exc:
            raise aws_error(rid, what, exc) from None

    def compare_form(self, props: Any, given: Iterable[str]) -> dict[str, Any]:
        """Desired values in the form ``read`` stores them (schema dump)."""
        dumped = props.model_dump(mode="json") if isinstance(props, BaseModel) else dict(props)
        return {k: dumped.get(k) for k in given}

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Compare normalised desired values with the live attributes."""
        if live is None or contains_unknown(desired.properties):
            return diff_properties(self.spec, desired, live)
        props = self.parse(desired)
        return diff_properties(self.spec, desired, live,
                               compare=self.compare_form(props, desired.properties))
