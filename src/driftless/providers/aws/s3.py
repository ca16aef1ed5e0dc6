"""S3 buckets and objects: ``s3.Bucket`` and ``s3.Object``.

I/O: S3 API calls through the provider's shared client; ``s3.Object`` with
``source`` reads a local file. ``s3.Sync`` lives in ``s3_sync.py``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, Resource, ResourceId, contains_unknown
from driftless.providers.aws._base import AwsHandler, desired_of, from_tag_list, to_tag_list
from driftless.providers.aws._client import AwsClients
from driftless.providers.base import KindSpec, diff_properties

__all__ = ["BucketProps", "ObjectProps", "handlers"]

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SHA_META = "driftless-sha256"


class LifecycleRule(BaseModel):
    """One lifecycle rule: expire objects (or old versions) under a prefix."""

    model_config = ConfigDict(extra="forbid")
    id: str
    prefix: str = ""
    expiration_days: int | None = Field(default=None, ge=1)
    noncurrent_expiration_days: int | None = Field(default=None, ge=1)
    abort_multipart_days: int | None = Field(default=None, ge=1)


class BucketProps(BaseModel):
    """``s3.Bucket`` properties."""

    model_config = ConfigDict(extra="forbid")
    name: str
    versioning: bool = False
    encryption: Literal["AES256", "aws:kms"] | None = None
    kms_key_id: str | None = None
    public_access_block: bool | None = None
    lifecycle_rules: list[LifecycleRule] | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    force_destroy: bool = False

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _BUCKET_NAME.match(v) or ".." in v:
            raise ValueError("bucket names are 3-63 lowercase letters, digits, '.' and '-'")
        return v


class BucketHandler(AwsHandler):
    """A bucket with versioning, encryption, public-access block, lifecycle and tags."""

    service = "s3"
    spec = KindSpec(
        "s3.Bucket", BucketProps, "an S3 bucket",
        replace_on=frozenset({"name"}), import_id="the bucket name",
        attributes={"name": "bucket name", "arn": "bucket ARN", "id": "bucket name",
                    "domain_name": "bucket DNS name"},
        update_changes=frozenset(),
    )

    def _name(self, resource: Resource, prior: LiveResource | None) -> str | None:
        if prior is not None and prior.attributes.get("name"):
            return str(prior.attributes["name"])
        if contains_unknown(resource.properties.get("name")):
            return None
        return str(self.parse(resource).name)

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        name = self._name(resource, prior)
        if name is None:
            return None
        force = bool((prior.attributes if prior else resource.properties).get("force_destroy"))
        return self._read(resource.id, name, force)

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        return self._read(resource.id, import_id, False)

    def _read(self, rid: ResourceId, name: str, force: bool) -> LiveResource | None:
        if self.maybe(rid, "head bucket", self.api.head_bucket, Bucket=name) is None:
            return None
        attrs: dict[str, Any] = {
            "name": name, "id": name, "arn": f"arn:aws:s3:::{name}",
            "domain_name": f"{name}.s3.amazonaws.com", "force_destroy": force,
            "versioning": self._versioning(rid, name), "tags": self._tags(rid, name),
            "public_access_block": self._pab(rid, name),
            "lifecycle_rules": self._lifecycle(rid, name),
        }
        attrs.update(self._encryption(rid, name))
        return LiveResource(rid, attrs)

    def _versioning(self, rid: ResourceId, name: str) -> bool:
        out = self.call(rid, "get bucket versioning", self.api.get_bucket_versioning, Bucket=name)
        return bool(out.get("Status") == "Enabled")

    def _tags(self, rid: ResourceId, name: str) -> dict[str, str]:
        out = self.maybe(rid, "get bucket tags", self.api.get_bucket_tagging, Bucket=name)
        return from_tag_list((out or {}).get("TagSet"))

    def _pab(self, rid: ResourceId, name: str) -> bool | None:
        out = self.maybe(rid, "get public access block", self.api.get_public_access_block,
                         Bucket=name)
        if out is None:
            return None
        return all(bool(v) for v in out["PublicAccessBlockConfiguration"].values())

    def _encryption(self, rid: ResourceId, name: str) -> dict[str, Any]:
        out = self.maybe(rid, "get bucket encryption", self.api.get_bucket_encryption,
                         Bucket=name)
        rules = (out or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        if not rules:
            return {"encryption": None, "kms_key_id": None}
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
        return {"encryption": default.get("SSEAlgorithm"),
                "kms_key_id": default.get("KMSMasterKeyID")}

    def _lifecycle(self, rid: ResourceId, name: str) -> list[dict[str, Any]] | None:
        out = self.maybe(rid, "get lifecycle", self.api.get_bucket_lifecycle_configuration,
                         Bucket=name)
        if out is None:
            return None
        return [_rule_from_aws(r) for r in out.get("Rules", [])]

    def create(self, change: Change) -> LiveResource:
        props: BucketProps = self.parse(desired_of(change))
        kwargs: dict[str, Any] = {"Bucket": props.name}
        if self.aws.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.aws.region}
        self._check_free(change.id, props.name)
        self.call(change.id, f"create bucket '{props.name}'", self.api.create_bucket, **kwargs)
        return self._configure(change.id, props, set(desired_of(change).properties))

    def _check_free(self, rid: ResourceId, name: str) -> None:
        """Refuse a name that exists: us-east-1 would silently hand back our own bucket."""
        try:
            found = self.maybe(rid, "check bucket name", self.api.head_bucket, Bucket=name)
        except ProviderError as exc:
            if exc.code != "AccessDenied":
                raise
            return  # another account's bucket, or bad keys: create_bucket names which
        if found is not None:
            raise ProviderError(
                f"create bucket '{name}' failed: it already exists in this account and is not "
                "in state (BucketAlreadyOwnedByYou)", resource=rid,
                code="BucketAlreadyOwnedByYou",
                hint=f"adopt it with: driftless import {rid} {name}, or choose another name")

    def update(self, change: Change) -> LiveResource:
        desired = desired_of(change)
        return self._configure(change.id, self.parse(desired), set(desired.properties))

    def _configure(self, rid: ResourceId, p: BucketProps, given: set[str]) -> LiveResource:
        b, api = p.name, self.api
        if "versioning" in given:
            status = "Enabled" if p.versioning else "Suspended"
            self.call(rid, "put versioning", api.put_bucket_versioning, Bucket=b,
                      VersioningConfiguration={"Status": status})
        if "encryption" in given:
            self._put_encryption(rid, p)
        if "public_access_block" in given:
            self._put_pab(rid, p)
        if "lifecycle_rules" in given:
            self._put_lifecycle(rid, p)
        if p.tags:
            self.call(rid, "put tags", api.put_bucket_tagging, Bucket=b,
                      Tagging={"TagSet": to_tag_list(p.tags)})
        elif "tags" in given:
            self.call(rid, "delete tags", api.delete_bucket_tagging, Bucket=b)
        live = self._read(rid, b, p.force_destroy)
        if live is None:
            raise ProviderError(f"bucket '{b}' vanished after it was configured", resource=rid)
        return live

    def _put_encryption(self, rid: ResourceId, p: BucketProps) -> None:
        if p.encryption is None:
            self.call(rid, "delete encryption", self.api.delete_bucket_encryption, Bucket=p.name)
            return
        default: dict[str, str] = {"SSEAlgorithm": p.encryption}
        if p.kms_key_id:
            default["KMSMasterKeyID"] = p.kms_key_id
        self.call(rid, "put encryption", self.api.put_bucket_encryption, Bucket=p.name,
                  ServerSideEncryptionConfiguration={
                      "Rules": [{"ApplyServerSideEncryptionByDefault": default}]})

    def _put_pab(self, rid: ResourceId, p: BucketProps) -> None:
        if p.public_access_block is None:
            self.call(rid, "delete public access block", self.api.delete_public_access_block,
                      Bucket=p.name)
            return
        on = p.public_access_block
        cfg = {k: on for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                               "RestrictPublicBuckets")}
        self.call(rid, "put public access block", self.api.put_public_access_block,
                  Bucket=p.name, PublicAccessBlockConfiguration=cfg)

    def _put_lifecycle(self, rid: ResourceId, p: BucketProps) -> None:
        if not p.lifecycle_rules:
            self.call(rid, "delete lifecycle", self.api.delete_bucket_lifecycle, Bucket=p.name)
            return
        rules = [_rule_to_aws(r) for r in p.lifecycle_rules]
        self.call(rid, "put lifecycle", self.api.put_bucket_lifecycle_configuration,
                  Bucket=p.name, LifecycleConfiguration={"Rules": rules})

    def delete(self, prior: LiveResource) -> None:
        name = str(prior.attributes["name"])
        if self.maybe(prior.id, "head bucket", self.api.head_bucket, Bucket=name) is None:
            return
        if prior.attributes.get("force_destroy"):
            self._empty(prior.id, name)
        elif self._has_objects(prior.id, name):
            raise ProviderError(
                f"bucket '{name}' is not empty; refusing to delete it (BucketNotEmpty)",
                resource=prior.id, code="BucketNotEmpty",
                hint="empty it first, or set force_destroy: true and apply before destroying",
            )
        self.call(prior.id, f"delete bucket '{name}'", self.api.delete_bucket, Bucket=name)

    def _has_objects(self, rid: ResourceId, name: str) -> bool:
        out = self.call(rid, "list object versions", self.api.list_object_versions,
                        Bucket=name, MaxKeys=1)
        return bool(out.get("Versions") or out.get("DeleteMarkers"))

    def _empty(self, rid: ResourceId, name: str) -> None:
        pages = self.api.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in pages:
            keys = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if keys:
                self.call(rid, "delete objects", self.api.delete_objects, Bucket=name,
                          Delete={"Objects": keys, "Quiet": True})


def _rule_to_aws(r: LifecycleRule) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": r.id, "Status": "Enabled", "Filter": {"Prefix": r.prefix}}
    if r.expiration_days:
        out["Expiration"] = {"Days": r.expiration_days}
    if r.noncurrent_expiration_days:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": r.noncurrent_expiration_days}
    if r.abort_multipart_days:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": r.abort_multipart_days}
    return out


def _rule_from_aws(r: dict[str, Any]) -> dict[str, Any]:
    return LifecycleRule(
        id=r.get("ID", ""),
        prefix=r.get("Filter", {}).get("Prefix", r.get("Prefix", "")) or "",
        expiration_days=r.get("Expiration", {}).get("Days"),
        noncurrent_expiration_days=r.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
        abort_multipart_days=r.get("AbortIncompleteMultipartUpload", {}).get(
            "DaysAfterInitiation"),
    ).model_dump(mode="json")


class ObjectProps(BaseModel):
    """``s3.Object`` properties: exactly one of ``content`` and ``source``."""

    model_config = ConfigDict(extra="forbid")
    bucket: str
    key: str = Field(min_length=1)
    content: str | None = None
    source: str | None = None
    content_type: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> ObjectProps:
        if (self.content is None) == (self.source is None):
            raise ValueError("give exactly one of 'content' and 'source'")
        return self


class ObjectHandler(AwsHandler):
    """One object; changes are found by the sha256 of its body."""

    service = "s3"
    spec = KindSpec(
        "s3.Object", ObjectProps, "one S3 object from inline content or a local file",
        replace_on=frozenset({"bucket", "key"}), import_id="bucket/key",
        attributes={"id": "bucket/key", "arn": "object ARN", "etag": "ETag",
                    "version_id": "version id (versioned buckets)",
                    "checksum": "sha256 of the body"},
        update_changes=frozenset({"etag", "version_id", "checksum"}),
    )

    def _body(self, resource: Resource, props: ObjectProps) -> bytes:
        if props.content is not None:
            return props.content.encode()
        path = Path(str(props.source)).expanduser()
        if not path.is_absolute() and resource.source is not None:
            path = Path(resource.source.file).parent / path
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ProviderError(f"cannot read source file {path}: {exc.strerror}",
                                resource=resource.id, hint="fix 'source' in the stack") from None

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Bucket, key and content type as given; the body by its sha256."""
        if live is None or contains_unknown(desired.properties):
            return diff_properties(self.spec, desired, live)
        p: ObjectProps = self.parse(desired)
        compare: dict[str, Any] = {k: getattr(p, k) for k in ("bucket", "key", "content_type")
                                   if k in desired.properties}
        compare["checksum"] = "sha256:" + hashlib.sha256(self._body(desired, p)).hexdigest()
        return diff_properties(self.spec, desired, live, compare=compare)

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        if prior is not None and prior.attributes.get("bucket"):
            bucket, key = str(prior.attributes["bucket"]), str(prior.attributes["key"])
        elif contains_unknown(resource.properties):
            return None
        else:
            p = self.parse(resource)
            bucket, key = p.bucket, p.key
        return self._read(resource.id, bucket, key)

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        bucket, _, key = import_id.partition("/")
        return self._read(resource.id, bucket, key)

    def _read(self, rid: ResourceId, bucket: str, key: str) -> LiveResource | None:
        head = self.maybe(rid, "head object", self.api.head_object, Bucket=bucket, Key=key)
        if head is None:
            return None
        sha = head.get("Metadata", {}).get(_SHA_META)
        if sha is None:  # written by someone else: hash what is there
            body = self.call(rid, "get object", self.api.get_object, Bucket=bucket, Key=key)
            sha = hashlib.sha256(body["Body"].read()).hexdigest()
        return LiveResource(rid, {
            "bucket": bucket, "key": key, "id": f"{bucket}/{key}",
            "arn": f"arn:aws:s3:::{bucket}/{key}", "checksum": f"sha256:{sha}",
            "content_type": head.get("ContentType"), "etag": head.get("ETag", "").strip('"'),
            "version_id": head.get("VersionId"), "size": head.get("ContentLength"),
        })

    def create(self, change: Change) -> LiveResource:
        desired = desired_of(change)
        p: ObjectProps = self.parse(desired)
        body = self._body(desired, p)
        kwargs: dict[str, Any] = {"Bucket": p.bucket, "Key": p.key, "Body": body,
                                  "Metadata": {_SHA_META: hashlib.sha256(body).hexdigest()}}
        if p.content_type:
            kwargs["ContentType"] = p.content_type
        self.call(change.id, f"put s3://{p.bucket}/{p.key}", self.api.put_object, **kwargs)
        live = self._read(change.id, p.bucket, p.key)
        if live is None:
            raise ProviderError("object vanished right after upload", resource=change.id)
        return live

    def update(self, change: Change) -> LiveResource:
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        self.maybe(prior.id, "delete object", self.api.delete_object,
                   Bucket=prior.attributes["bucket"], Key=prior.attributes["key"])


def handlers(aws: AwsClients) -> dict[str, AwsHandler]:
    """This module's kinds, sharing ``aws`` clients."""
    return {"s3.Bucket": BucketHandler(aws), "s3.Object": ObjectHandler(aws)}
