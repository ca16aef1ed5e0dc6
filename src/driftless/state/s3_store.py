"""Conditional object I/O on one S3 bucket, for the S3 state backend.

Every state, lock and journal object goes through ``S3Store``: gets that
return the ETag, puts guarded by ``If-Match`` / ``If-None-Match``, deletes
guarded by ``If-Match``. It turns botocore errors into ``StateError`` naming
the bucket, the key and the AWS error code, and never puts credentials in a
message. Network I/O only (HTTP to S3 or an S3-compatible endpoint).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from driftless.errors import StateError
from driftless.records import record

__all__ = [
    "PreconditionFailed",
    "S3Location",
    "S3Store",
    "aws_error_code",
    "client_kwargs",
    "make_session",
    "state_error",
]

# Codes S3 answers with when a conditional request loses: 412 on a mismatch,
# 409 when two conditional writes to the same key race inside S3.
_CONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class PreconditionFailed(Exception):
    """A conditional request lost: the object changed (or exists) meanwhile."""


@record
class S3Location:
    """Where and how to reach a backend's objects (parsed from its URL)."""

    bucket: str
    prefix: str
    region: str | None = None
    endpoint: str | None = None
    profile: str | None = None
    lock_table: str | None = None

    def key(self, name: str) -> str:
        """The object key of ``name`` under the backend's prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def url(self, name: str = "") -> str:
        """``s3://bucket/prefix/name`` for messages."""
        return f"s3://{self.bucket}/{self.key(name)}".rstrip("/")


def client_kwargs(loc: S3Location) -> dict[str, Any]:
    """Keyword arguments for ``Session.client`` (no credentials: the standard chain)."""
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "config": Config(retries={"mode": "adaptive", "max_attempts": 8}),
    }
    if loc.region:
        kwargs["region_name"] = loc.region
    if loc.endpoint:
        kwargs["endpoint_url"] = loc.endpoint
    return kwargs


def make_session(loc: S3Location) -> Any:
    """One boto3 session for the backend (clients are made from it up front)."""
    import boto3

    return boto3.session.Session(profile_name=loc.profile) if loc.profile else boto3.Session()


def aws_error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore error, or its class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def state_error(exc: BaseException, *, doing: str, where: str) -> StateError:
    """A ``StateError`` for a failed AWS call: what, where, the code, a hint."""
    code = aws_error_code(exc)
    hints = {
        "NoSuchBucket": "create it with `driftless bootstrap --backend <url>` or fix the URL",
        "AccessDenied": "the credentials in use lack permission on this bucket/table",
        "NoCredentialsError": "set AWS credentials (environment, profile or instance role)",
        "InvalidAccessKeyId": "check the AWS credentials in use",
        "SignatureDoesNotMatch": "check the AWS secret key in use",
        "EndpointConnectionError": "check the endpoint URL / network, or set ?endpoint=",
        "ResourceNotFoundException": "create the lock table (`driftless bootstrap --lock-table`)",
    }
    return StateError(f"state backend {where}: {doing} failed ({code})", hint=hints.get(code))


class S3Store:
    """Conditional gets, puts, deletes and listings in one bucket."""

    def __init__(self, loc: S3Location, client: Any) -> None:
        self.loc = loc
        self._s3 = client

    def get(self, name: str) -> tuple[bytes, str] | None:
        """The body and ETag of object ``name``, or None when it does not exist."""
        try:
            resp = self._s3.get_object(Bucket=self.loc.bucket, Key=self.loc.key(name))
            return resp["Body"].read(), str(resp["ETag"])
        except Exception as exc:
            if aws_error_code(exc) in _MISSING_CODES:
                return None
            raise state_error(exc, doing="read", where=self.loc.url(name)) from None

    def versions(self, name: str) -> Iterator[tuple[str, float]]:
        """(version id, last modified) of each stored version of ``name``, newest
        first; delete markers are skipped. A bucket without versioning has one."""
        key = self.loc.key(name)
        try:
            pages = self._s3.get_paginator("list_object_versions").paginate(
                Bucket=self.loc.bucket, Prefix=key)
            for page in pages:
                # S3 lists a key's versions newest first (times tie within a second).
                for v in page.get("Versions", ()):
                    if v["Key"] == key:
                        yield str(v["VersionId"]), v["LastModified"].timestamp()
        except Exception as exc:
            raise state_error(exc, doing="list versions of", where=self.loc.url(name)) from None

    def head_version(self, name: str, version: str) -> dict[str, str]:
        """The user metadata of one version of ``name``."""
        try:
            resp = self._s3.head_object(Bucket=self.loc.bucket, Key=self.loc.key(name),
                                        VersionId=version)
            return dict(resp.get("Metadata") or {})
        except Exception as exc:
            raise state_error(exc, doing="read", where=self.loc.url(name)) from None

    def get_version(self, name: str, version: str) -> tuple[bytes, dict[str, str]]:
        """The body and user metadata of one version of ``name``."""
        try:
            resp = self._s3.get_object(Bucket=self.loc.bucket, Key=self.loc.key(name),
                                       VersionId=version)
            return resp["Body"].read(), dict(resp.get("Metadata") or {})
        except Exception as exc:
            raise state_error(exc, doing="read", where=self.loc.url(name)) from None

    def put(
        self, name: str, body: bytes, *, if_match: str | None = None, if_absent: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Write ``name``; ``PreconditionFailed`` if the guard does not hold. The new ETag."""
        extra: dict[str, str] = {}
        if if_match is not None:
            extra["IfMatch"] = if_match
        if if_absent:
            extra["IfNoneMatch"] = "*"
        try:
            resp = self._s3.put_object(
                Bucket=self.loc.bucket, Key=self.loc.key(name), Body=body,
                ContentType="application/json", **extra,
                **({"Metadata": metadata} if metadata else {}),
            )
            return str(resp["ETag"])
        except Exception as exc:
            self._raise_condition(exc, guarded=bool(extra))
            raise state_error(exc, doing="write", where=self.loc.url(name)) from None

    def delete(self, name: str, *, if_match: str | None = None) -> None:
        """Delete ``name`` (a delete marker in a versioned bucket)."""
        extra = {"IfMatch": if_match} if if_match is not None else {}
        try:
            self._s3.delete_object(Bucket=self.loc.bucket, Key=self.loc.key(name), **extra)
        except Exception as exc:
            self._raise_condition(exc, guarded=bool(extra))
            raise state_error(exc, doing="delete", where=self.loc.url(name)) from None

    def delete_many(self, names: list[str]) -> None:
        """Delete several objects in batches of 1000."""
        for start in range(0, len(names), 1000):
            batch = [{"Key": self.loc.key(n)} for n in names[start:start + 1000]]
            try:
                self._s3.delete_objects(
                    Bucket=self.loc.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except Exception as exc:
                raise state_error(exc, doing="delete", where=self.loc.url()) from None

    def names(self, sub: str = "", *, delimiter: str | None = None) -> Iterator[str]:
        """Names (relative to the prefix) of the objects under ``sub``."""
        base = self.loc.key(sub) if sub else (f"{self.loc.prefix}/" if self.loc.prefix else "")
        kwargs: dict[str, str] = {"Bucket": self.loc.bucket, "Prefix": base}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        cut = len(self.loc.prefix) + 1 if self.loc.prefix else 0
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(**kwargs):
                for obj in page.get("Contents", ()):
                    yield str(obj["Key"])[cut:]
        except Exception as exc:
            raise state_error(exc, doing="list", where=self.loc.url(sub)) from None

    @staticmethod
    def _raise_condition(exc: BaseException, *, guarded: bool) -> None:
        code = aws_error_code(exc)
        if code in _CONDITION_CODES or (guarded and code in _MISSING_CODES):
            raise PreconditionFailed(code) from None
