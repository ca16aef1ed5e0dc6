"""The shared shape of every AWS kind: clients, typed diff, tag helpers.

``KeyedHandler`` is the shape of kinds found by identity properties (a
name, or a role and a policy): read, import and re-read after a write.

No I/O of its own: handlers call AWS through ``AwsClients`` and ``call``.
Live attributes keep the properties in their normalised (schema-dumped)
form, so the diff compares like with like; ids and ARNs sit next to them
for references such as ``${sg.id}`` or ``${bucket.arn}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, Resource, ResourceId, contains_unknown
from driftless.providers.aws._client import AwsClients, aws_error, call, is_not_found
from driftless.providers.base import KindHandler, diff_properties

__all__ = ["ADDRESS_TAG", "AwsHandler", "KeyedHandler", "address_tag_list", "desired_of",
           "from_tag_list", "known_keys", "to_tag_list"]

T = TypeVar("T")

ADDRESS_TAG = "driftless:address"


def to_tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``{k: v}`` → ``[{"Key": k, "Value": v}]`` in key order."""
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def address_tag_list(rid: ResourceId, tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``to_tag_list`` plus ``driftless:address=<rid>``, so a lost create is found again."""
    return to_tag_list({**tags, ADDRESS_TAG: str(rid)})


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


def known_keys(
    resource: Resource, prior: LiveResource | None, *keys: str
) -> dict[str, Any] | None:
    """Identity fields from the prior read, else from the desired properties.

    None while a desired one is still unknown (it depends on an unapplied resource).
    """
    if prior is not None and all(prior.attributes.get(k) for k in keys):
        return {k: prior.attributes[k] for k in keys}
    if any(contains_unknown(resource.properties.get(k)) for k in keys):
        return None
    return {k: resource.properties.get(k) for k in keys}


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

    def replace_tags(self, change: Change, tags: Mapping[str, str], *, what: str,
                     untag: Callable[..., Any], tag: Callable[..., Any], **ident: Any) -> None:
        """Make the tags exactly ``tags`` with ``TagKeys``/``Tags`` style calls.

        Keys gone since the prior read are untagged first; ``ident`` names the
        object (``RoleName=...``, ``ResourceArn=...``).
        """
        old = (change.prior.attributes if change.prior else {}).get("tags") or {}
        if gone := sorted(set(old) - set(tags)):
            self.call(change.id, f"untag {what}", untag, TagKeys=gone, **ident)
        if tags:
            self.call(change.id, f"tag {what}", tag, Tags=to_tag_list(tags), **ident)

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


class KeyedHandler(AwsHandler):
    """A kind found by its ``keys`` properties; subclasses define ``_read(rid, *keys)``.

    The import id is the keys joined by ':' (the last key may itself hold
    colons, as an ARN does).
    """

    keys: ClassVar[tuple[str, ...]] = ("name",)
    noun: ClassVar[str] = "resource"
    # Declared as a callable, not a method, so subclasses name their own key parameters.
    _read: Callable[..., LiveResource | None]

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        key = known_keys(resource, prior, *self.keys)
        return None if key is None else self._read(resource.id, *(str(key[k]) for k in self.keys))

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        parts = import_id.split(":", len(self.keys) - 1)
        return self._read(resource.id, *parts, *[""] * (len(self.keys) - len(parts)))

    def reread(self, rid: ResourceId, *key: str) -> LiveResource:
        """The object just written, or an error naming it when it vanished."""
        live = self._read(rid, *key)
        if live is None:
            raise ProviderError(f"{self.noun} '{':'.join(key)}' vanished after it was written",
                                resource=rid)
        return live
