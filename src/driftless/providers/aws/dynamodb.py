"""``dynamodb.Table``: a DynamoDB table (keys, attribute types, billing, tags).

I/O: DynamoDB API calls through the shared client.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftless.model import (
    Change,
    Health,
    HealthCode,
    LiveResource,
    ResourceId,
)
from driftless.providers.aws._base import (
    AwsHandler,
    KeyedHandler,
    desired_of,
    from_tag_list,
    to_tag_list,
)
from driftless.providers.aws._client import AwsClients
from driftless.providers.base import KindSpec

__all__ = ["TableProps", "handlers"]


class TableProps(BaseModel):
    """``dynamodb.Table`` properties; ``attributes`` maps key names to S, N or B."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=3, max_length=255)
    hash_key: str
    range_key: str | None = None
    attributes: dict[str, Literal["S", "N", "B"]]
    billing_mode: Literal["PAY_PER_REQUEST", "PROVISIONED"] = "PAY_PER_REQUEST"
    read_capacity: int | None = Field(default=None, ge=1)
    write_capacity: int | None = Field(default=None, ge=1)
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _keys_typed(self) -> TableProps:
        for key in (self.hash_key, self.range_key):
            if key is not None and key not in self.attributes:
                raise ValueError(f"key '{key}' needs a type in 'attributes' (S, N or B)")
        if self.billing_mode == "PROVISIONED" and not (self.read_capacity and self.write_capacity):
            raise ValueError("PROVISIONED billing needs read_capacity and write_capacity")
        return self


class TableHandler(KeyedHandler):
    """A table; key schema changes replace it, billing and tags update in place."""

    service, noun = "dynamodb", "table"
    spec = KindSpec(
        "dynamodb.Table", TableProps, "a DynamoDB table",
        replace_on=frozenset({"name", "hash_key", "range_key", "attributes"}),
        import_id="the table name", attributes={"arn": "table ARN", "name": "table name"},
        update_changes=frozenset(),
    )

    def _read(self, rid: ResourceId, name: str) -> LiveResource | None:
        out = self.maybe(rid, "describe table", self.api.describe_table, TableName=name)
        if out is None or out["Table"].get("TableStatus") == "DELETING":
            return None
        t = out["Table"]
        keys = {k["KeyType"]: k["AttributeName"] for k in t["KeySchema"]}
        mode = t.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        thr = t.get("ProvisionedThroughput", {})
        tags = self.call(rid, "list tags", self.api.list_tags_of_resource,
                         ResourceArn=t["TableArn"])
        return LiveResource(rid, {
            "name": name, "arn": t["TableArn"], "status": t.get("TableStatus"),
            "hash_key": keys.get("HASH"), "range_key": keys.get("RANGE"),
            "attributes": {a["AttributeName"]: a["AttributeType"]
                           for a in t["AttributeDefinitions"]},
            "billing_mode": mode,
            "read_capacity": thr.get("ReadCapacityUnits") if mode == "PROVISIONED" else None,
            "write_capacity": thr.get("WriteCapacityUnits") if mode == "PROVISIONED" else None,
            "tags": from_tag_list(tags.get("Tags")),
        })

    def create(self, change: Change) -> LiveResource:
        p: TableProps = self.parse(desired_of(change))
        schema = [{"AttributeName": p.hash_key, "KeyType": "HASH"}]
        if p.range_key:
            schema.append({"AttributeName": p.range_key, "KeyType": "RANGE"})
        kwargs: dict[str, Any] = {
            "TableName": p.name, "KeySchema": schema, "BillingMode": p.billing_mode,
            "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v}
                                     for k, v in sorted(p.attributes.items())]}
        kwargs.update(_throughput(p))
        if p.tags:
            kwargs["Tags"] = to_tag_list(p.tags)
        self.call(change.id, f"create table '{p.name}'", self.api.create_table, **kwargs)
        return self.reread(change.id, p.name)

    def update(self, change: Change) -> LiveResource:
        p: TableProps = self.parse(desired_of(change))
        before = change.prior.attributes if change.prior else {}
        if (p.billing_mode, p.read_capacity, p.write_capacity) != (
                before.get("billing_mode"), before.get("read_capacity"),
                before.get("write_capacity")):
            self.call(change.id, "update table", self.api.update_table, TableName=p.name,
                      BillingMode=p.billing_mode, **_throughput(p))
        self.replace_tags(change, p.tags, what="table", untag=self.api.untag_resource,
                          tag=self.api.tag_resource, ResourceArn=str(before.get("arn")))
        return self.reread(change.id, p.name)

    def delete(self, prior: LiveResource) -> None:
        self.maybe(prior.id, "delete table", self.api.delete_table,
                   TableName=prior.attributes["name"])

    def health(self, live: LiveResource) -> Health:
        status = live.attributes.get("status")
        if status in (None, "ACTIVE"):
            return Health.healthy()
        return Health(HealthCode.PROGRESSING, f"table is {status}")


def _throughput(p: TableProps) -> dict[str, Any]:
    if p.billing_mode != "PROVISIONED":
        return {}
    return {"ProvisionedThroughput": {"ReadCapacityUnits": p.read_capacity,
                                      "WriteCapacityUnits": p.write_capacity}}


def handlers(aws: AwsClients) -> dict[str, AwsHandler]:
    """This module's kinds, sharing ``aws`` clients."""
    return {"dynamodb.Table": TableHandler(aws)}
