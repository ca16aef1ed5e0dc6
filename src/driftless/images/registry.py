"""List the tags of an image repository in any OCI distribution registry.

``GET /v2/<name>/tags/list`` with the token flow every registry speaks: a
401 names a ``Bearer`` realm (or ``Basic``); the client fetches a token for
the pull scope from that realm, with the operator's credentials when it has
them, and retries. Pages follow the ``Link: <...>; rel="next"`` header.
Loopback registries are reached over plain HTTP, all others over HTTPS.

Credentials belong to the operator, never the repository: a Docker-style
``config.json`` (``auths``), named by ``DRIFTLESS_REGISTRY_CONFIG`` or
given directly. I/O: HTTP through httpx.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from driftless.errors import ConfigError, SourceError
from driftless.records import record

__all__ = ["ENV_REGISTRY_CONFIG", "ImageRef", "RegistryClient", "load_credentials"]

ENV_REGISTRY_CONFIG = "DRIFTLESS_REGISTRY_CONFIG"
_DOCKER_HUB = "registry-1.docker.io"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_MAX_PAGES = 1_000
_MAX_TAGS = 200_000
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_LINK = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")
_MANIFESTS = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"))


@record
class ImageRef:
    """``host[:port]/name``; Docker Hub's short names as Docker reads them."""

    host: str
    name: str

    @classmethod
    def parse(cls, image: str) -> ImageRef:
        first, sep, rest = image.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            host, name = first, rest
        else:
            host, name = _DOCKER_HUB, image if sep else f"library/{image}"
        if not name or not re.fullmatch(r"[a-z0-9]+(?:[._/-]+[a-z0-9]+)*", name):
            raise ConfigError(f"'{image}' is not an image repository",
                              hint="example: ghcr.io/acme/app or 127.0.0.1:5000/shop/api")
        return cls(host, name)

    @property
    def base_url(self) -> str:
        loopback = self.host.split(":")[0] in _LOOPBACK or self.host.startswith("[::1]")
        return f"{'http' if loopback else 'https'}://{self.host}"

    def __str__(self) -> str:
        return f"{self.host}/{self.name}"


def load_credentials(path: Path | None = None, environ: Mapping[str, str] | None = None
                     ) -> dict[str, tuple[str, str]]:
    """host -> (username, password) from a Docker-style config file (or none)."""
    env = environ if environ is not None else os.environ
    path = path or (Path(env[ENV_REGISTRY_CONFIG]) if env.get(ENV_REGISTRY_CONFIG) else None)
    if path is None:
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read registry credentials from {path}: {exc}") from None
    out: dict[str, tuple[str, str]] = {}
    for host, entry in (doc.get("auths") or {}).items():
        if entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        else:
            user, password = entry.get("username", ""), entry.get("password", "")
        out[host.removeprefix("https://").removeprefix("http://").rstrip("/")] = (user, password)
    return out


@record(frozen=False)
class RegistryClient:
    """A small client for the parts of the distribution API image automation needs."""

    credentials: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    timeout: float = 30.0
    page_size: int = 1_000
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _http: httpx.Client | None = field(default=None, repr=False)

    def _client(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, follow_redirects=True)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def tags(self, image: str | ImageRef) -> list[str]:
        """Every tag of ``image``, in the order the registry lists them."""
        ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
        url: str | None = f"{ref.base_url}/v2/{ref.name}/tags/list?n={self.page_size}"
        tags: list[str] = []
        for _ in range(_MAX_PAGES):
            if url is None:
                return tags
            response = self._get(ref, url)
            tags.extend(response.json().get("tags") or [])
            if len(tags) > _MAX_TAGS:
                raise SourceError(f"{ref}: more than {_MAX_TAGS} tags")
            link = _LINK.search(response.headers.get("link", ""))
            url = urljoin(url, link[1]) if link else None
        raise SourceError(f"{ref}: more than {_MAX_PAGES} pages of tags")

    def digest(self, image: str | ImageRef, tag: str) -> str | None:
        """The manifest digest of ``image:tag`` (``sha256:...``), from a HEAD request."""
        ref = image if isinstance(image, ImageRef) else ImageRef.parse(image)
        url = f"{ref.base_url}/v2/{ref.name}/manifests/{tag}"
        response = self._get(ref, url, method="HEAD", headers={"Accept": _MANIFESTS})
        found = response.headers.get("docker-content-digest")
        return str(found) if found else None

    def _get(self, ref: ImageRef, url: str, *, method: str = "GET",
             headers: Mapping[str, str] | None = None) -> httpx.Response:
        scope = f"repository:{ref.name}:pull"
        sent = dict(headers or {})
        token = self._tokens.get((ref.host, scope))
        if token:
            sent["Authorization"] = token
        try:
            response = self._client().request(method, url, headers=sent)
            if response.status_code == 401:
                sent["Authorization"] = self._authorize(ref, scope, response)
                response = self._client().request(method, url, headers=sent)
        except httpx.HTTPError as exc:
            raise SourceError(f"{ref}: registry unreachable: {exc}") from None
        if response.status_code >= 400:
            raise SourceError(f"{ref}: {method} {httpx.URL(url).path} answered "
                              f"{response.status_code}{_detail(response)}")
        return response

    def _authorize(self, ref: ImageRef, scope: str, challenge: httpx.Response) -> str:
        header = challenge.headers.get("www-authenticate", "")
        scheme = header.split(" ", 1)[0].lower()
        creds = self.credentials.get(ref.host)
        if scheme == "basic":
            if creds is None:
                raise SourceError(f"{ref}: the registry asks for a password and none was given",
                                  hint=f"give one in the file named by {ENV_REGISTRY_CONFIG}")
            value = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        elif scheme == "bearer":
            value = "Bearer " + self._token(ref, dict(_CHALLENGE.findall(header)), scope, creds)
        else:
            raise SourceError(f"{ref}: unsupported authentication '{header[:60]}'")
        self._tokens[(ref.host, scope)] = value
        return value

    def _token(self, ref: ImageRef, params: Mapping[str, str], scope: str,
               creds: tuple[str, str] | None) -> str:
        realm = params.get("realm")
        if not realm or not realm.startswith(("https://", "http://")):
            raise SourceError(f"{ref}: the registry's token challenge names no realm")
        query = {"scope": params.get("scope", scope)}
        if params.get("service"):
            query["service"] = params["service"]
        try:
            response = self._client().get(realm, params=query, auth=creds)
        except httpx.HTTPError as exc:
            raise SourceError(f"{ref}: token service unreachable: {exc}") from None
        if response.status_code != 200:
            raise SourceError(f"{ref}: token service answered {response.status_code}"
                              f"{_detail(response)}")
        body: dict[str, Any] = response.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SourceError(f"{ref}: token service gave no token")
        return token


def _detail(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return ""
    return f" ({errors[0].get('code')}: {errors[0].get('message')})" if errors else ""
