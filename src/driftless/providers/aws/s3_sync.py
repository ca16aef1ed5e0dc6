"""``s3.Sync``: keep an S3 prefix equal to a local directory.

I/O: walks and hashes the local directory, lists the prefix, uploads changed
files (multipart above a threshold, through boto3's transfer manager) and,
with ``delete: true``, removes keys that no longer exist locally. A big
upload (over ~8 MiB or ~20 files) shows a byte progress bar on a terminal
stderr through ``_progress.UploadBar``; elsewhere it prints nothing.
Files are compared by ETag: the MD5 of the body, or for a multipart upload
the MD5 of the part MD5s with ``-N`` — computed locally with the same part
size as the upload, so an unchanged file never needs a request of its own.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, Resource, ResourceId, contains_unknown
from driftless.providers.aws._base import AwsHandler, desired_of
from driftless.providers.aws._client import AwsClients, aws_error
from driftless.providers.aws._progress import ByteCallback, ProgressFactory, UploadBar
from driftless.providers.base import KindSpec, diff_properties

__all__ = ["SyncProps", "handlers", "local_etag"]

MB = 1024 * 1024


class SyncProps(BaseModel):
    """``s3.Sync`` properties."""

    model_config = ConfigDict(extra="forbid")
    bucket: str
    source: str
    prefix: str = ""
    delete: bool = False
    multipart_threshold_mb: int = Field(default=16, ge=5, le=5120)


def local_etag(path: Path, part_size: int) -> str:
    """The ETag S3 gives ``path`` when uploaded with parts of ``part_size``."""
    size = path.stat().st_size
    with path.open("rb") as f:
        if size < part_size:
            return hashlib.md5(f.read(), usedforsecurity=False).hexdigest()
        parts = [hashlib.md5(chunk, usedforsecurity=False).digest()
                 for chunk in iter(lambda: f.read(part_size), b"")]
    whole = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{whole}-{len(parts)}"


class SyncHandler(AwsHandler):
    """A directory mirrored under a bucket prefix."""

    service = "s3"
    spec = KindSpec(
        "s3.Sync", SyncProps, "upload a local directory to an S3 prefix (changed files only)",
        replace_on=frozenset({"bucket", "prefix"}),
        attributes={"files": "number of files in sync", "manifest": "digest of the file list",
                    "uri": "s3://bucket/prefix"},
        update_changes=frozenset({"files", "manifest"}),
    )

    def __init__(self, aws: AwsClients, *, progress: ProgressFactory | None = None) -> None:
        super().__init__(aws)
        self._progress: ProgressFactory = UploadBar() if progress is None else progress
        # (path, size, mtime_ns) → etag: rehash only files that moved, like git's index.
        self._etags: dict[tuple[str, int, int, int], str] = {}
        self._lock = threading.Lock()

    def _dir(self, resource: Resource, p: SyncProps) -> Path:
        d = Path(p.source).expanduser()
        if not d.is_absolute() and resource.source is not None:
            d = Path(resource.source.file).parent / d
        if not d.is_dir():
            raise ProviderError(f"source directory {d} does not exist",
                                resource=resource.id, hint="fix 'source' in the stack")
        return d

    def _local(self, root: Path, p: SyncProps) -> dict[str, str]:
        part = p.multipart_threshold_mb * MB
        out: dict[str, str] = {}
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                out[path.relative_to(root).as_posix()] = self._etag(path, part)
        return out

    def _etag(self, path: Path, part: int) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, part)
        with self._lock:
            found = self._etags.get(key)
        if found is None:
            found = local_etag(path, part)
            with self._lock:
                self._etags[key] = found
        return found

    def _remote(self, rid: ResourceId, p: SyncProps) -> dict[str, str]:
        prefix = _prefix(p)
        out: dict[str, str] = {}
        try:
            for page in self.api.get_paginator("list_objects_v2").paginate(
                    Bucket=p.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    out[obj["Key"][len(prefix):]] = obj["ETag"].strip('"')
        except Exception as exc:
            raise aws_error(rid, f"list s3://{p.bucket}/{prefix}", exc) from None
        return out

    def _attrs(self, p: SyncProps, files: dict[str, str]) -> dict[str, Any]:
        manifest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()
        return {"bucket": p.bucket, "prefix": p.prefix, "source": p.source, "delete": p.delete,
                "files": len(files), "manifest": f"sha256:{manifest}",
                "uri": f"s3://{p.bucket}/{_prefix(p)}"}

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        if contains_unknown(resource.properties):
            return prior
        p: SyncProps = self.parse(resource)
        remote = self._remote(resource.id, p)
        if not remote and prior is None:
            return None
        if not p.delete:  # keys we do not own are not ours to compare
            local = self._local(self._dir(resource, p), p)
            remote = {k: v for k, v in remote.items() if k in local}
        return LiveResource(resource.id, self._attrs(p, remote))

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Settings as given, and the file list by its digest."""
        if live is None or contains_unknown(desired.properties):
            return diff_properties(self.spec, desired, live)
        p: SyncProps = self.parse(desired)
        want = self._attrs(p, self._local(self._dir(desired, p), p))
        compare = {k: want[k] for k in ("bucket", "prefix", "delete") if k in desired.properties}
        compare["manifest"] = want["manifest"]
        return diff_properties(self.spec, desired, live, compare=compare)

    def create(self, change: Change) -> LiveResource:
        desired = desired_of(change)
        p: SyncProps = self.parse(desired)
        root = self._dir(desired, p)
        local, remote = self._local(root, p), self._remote(change.id, p)
        cfg = TransferConfig(multipart_threshold=p.multipart_threshold_mb * MB,
                             multipart_chunksize=p.multipart_threshold_mb * MB)
        todo = [rel for rel, etag in sorted(local.items()) if remote.get(rel) != etag]
        size = sum((root / rel).stat().st_size for rel in todo)
        with self._progress(size, len(todo),
                            label=f"upload s3://{p.bucket}/{_prefix(p)}") as advance:
            for rel in todo:
                self._upload(change.id, root / rel, p, rel, cfg, advance)
        if p.delete:
            self._delete_keys(change.id, p, sorted(set(remote) - set(local)))
        return LiveResource(change.id, self._attrs(p, local))

    def update(self, change: Change) -> LiveResource:
        return self.create(change)

    def _upload(self, rid: ResourceId, path: Path, p: SyncProps, rel: str,
                cfg: TransferConfig, advance: ByteCallback | None) -> None:
        try:
            self.api.upload_file(str(path), p.bucket, _prefix(p) + rel, Config=cfg,
                                 Callback=advance)
        except Exception as exc:
            raise aws_error(rid, f"upload {rel}", getattr(exc, "last_exception", None)
                            or exc) from None

    def _delete_keys(self, rid: ResourceId, p: SyncProps, rels: list[str]) -> None:
        for start in range(0, len(rels), 1000):
            objs = [{"Key": _prefix(p) + r} for r in rels[start:start + 1000]]
            self.call(rid, "delete removed files", self.api.delete_objects, Bucket=p.bucket,
                      Delete={"Objects": objs, "Quiet": True})

    def delete(self, prior: LiveResource) -> None:
        """Remove every key under the prefix that the sync owned."""
        a = prior.attributes
        p = SyncProps(bucket=a["bucket"], source=a.get("source", "."), prefix=a.get("prefix", ""))
        if self.maybe(prior.id, "head bucket", self.api.head_bucket, Bucket=p.bucket) is None:
            return
        self._delete_keys(prior.id, p, sorted(self._remote(prior.id, p)))


def _prefix(p: SyncProps) -> str:
    return p.prefix.strip("/") + "/" if p.prefix.strip("/") else ""


def handlers(aws: AwsClients) -> dict[str, AwsHandler]:
    """This module's kinds, sharing ``aws`` clients."""
    return {"s3.Sync": SyncHandler(aws)}
