"""local provider kind ``download``: a file fetched from a URL, checked by sha256.

I/O: HTTP(S) through httpx (streamed), ``file://`` by reading the path, and
one atomic write. It fetches only when the local file's sha256 differs from
the required one; the bytes go to a temp file beside the target, are
verified, and only then renamed into place — a bad download leaves nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, ResourceId
from driftless.providers.base import KindHandler, KindSpec
from driftless.providers.local._atomic import (
    fingerprint,
    parse_mode,
)
from driftless.providers.local._paths import AbsPath
from driftless.providers.local.files import MODE_PATTERN, ContentFileHandler

__all__ = ["HANDLERS"]

_CHUNK = 1 << 16


class DownloadProps(BaseModel):
    """Properties of ``local:download``."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="http://, https:// or file:// URL")
    path: AbsPath = Field(description="where the file is written (absolute)")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="required sha256 of the bytes")
    mode: str | None = Field(None, pattern=MODE_PATTERN, description='octal, e.g. "0755"')
    timeout: float = Field(60.0, gt=0, description="seconds for connect and each read")
    make_parents: bool = Field(False, description="create missing parent directories")


class _Verifier:
    """Streams chunks through, hashing them; checks the digest at the end."""

    def __init__(self, chunks: Iterator[bytes], want: str, rid: ResourceId, url: str) -> None:
        self.chunks, self.want, self.rid, self.url = chunks, want.lower(), rid, url
        self.sha = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.sha.update(chunk)
            yield chunk
        got = self.sha.hexdigest()
        if got != self.want:
            # raised before the rename: write_stream_atomic removes the temp file
            raise ProviderError(
                f"checksum mismatch for {self.url}: expected sha256 {self.want}, got {got}",
                resource=self.rid, hint="fix sha256 in the config, or the URL if it is wrong")


def _file_chunks(url: str, rid: ResourceId) -> Iterator[bytes]:
    path = unquote(urlparse(url).path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the generator below
    except OSError as exc:
        raise ProviderError(f"cannot read {url}: {(exc.strerror or str(exc)).lower()}",
                            resource=rid, hint="check the file:// path") from None
    with fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


def _http_chunks(url: str, timeout: float, rid: ResourceId) -> Iterator[bytes]:
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise ProviderError(f"GET {url} returned HTTP {resp.status_code}", resource=rid,
                                    retryable=resp.status_code >= 500,
                                    hint="check the URL")
            yield from resp.iter_bytes(_CHUNK)
    except httpx.HTTPError as exc:
        raise ProviderError(f"cannot download {url}: {type(exc).__name__}: {exc}",
                            resource=rid, retryable=True,
                            hint="check the URL and that the host is reachable") from None


def _chunks(url: str, timeout: float, rid: ResourceId) -> Iterator[bytes]:
    scheme = urlparse(url).scheme
    if scheme == "file":
        return _file_chunks(url, rid)
    if scheme in ("http", "https"):
        return _http_chunks(url, timeout, rid)
    raise ProviderError(f"unsupported URL scheme '{scheme or '(none)'}' in {url}", resource=rid,
                        hint="use http://, https:// or file://")


class DownloadHandler(ContentFileHandler):
    """``local:download``."""

    spec = KindSpec(
        name="download", schema=DownloadProps,
        description="A file downloaded from a URL and verified against a required sha256; "
                    "fetched again only when the local bytes differ.",
        replace_on=frozenset({"path"}), import_id="the file's absolute path",
        read_fields=frozenset({"url"}),  # a file:// URL is confined to the project by render
        attributes={"path": "the path", "type": "what is at the path",
                    "sha256": "sha256 of the local bytes", "mode": "permission bits",
                    "size": "size in bytes"},
        update_changes=frozenset({"sha256", "mode", "size"}),
    )

    def keyed(self, props: Mapping[str, Any]) -> bool:
        """Downloads are public bytes: a plain sha256."""
        return False

    def wanted_digest(self, props: Mapping[str, Any], rid: ResourceId) -> Any:
        """The required sha256 (lower-cased)."""
        want = props.get("sha256")
        return want.lower() if isinstance(want, str) else want

    def create(self, change: Change) -> LiveResource:
        """Stream to a temp file, verify, rename; nothing is left on failure."""
        assert change.desired is not None
        props: DownloadProps = self.parse(change.desired)
        rid = change.desired.id
        self.host.ensure_parent(props.path, make_parents=props.make_parents, rid=rid)
        stream = _Verifier(_chunks(props.url, props.timeout, rid), props.sha256, rid, props.url)
        st = self.host.write_stream_atomic(props.path, stream, rid=rid,
                                           mode=parse_mode(props.mode, default=0o644))
        # the bytes were verified while streaming: record their digest, no re-hash
        known = LiveResource(rid, {}, fingerprint(st, props.sha256.lower(), keyed=False))
        return self.observe(rid, props.path, st, keyed=False, props=change.desired.properties,
                            prior=known)


HANDLERS: dict[str, KindHandler] = {"download": DownloadHandler()}
