"""Webhook verification and parsing: is this push real, new, and for us?

The agent's HTTP server hands the raw body and headers of a POST to these
functions; nothing here does network I/O. Checks are constant-time
(``hmac.compare_digest``). Exactly these forms are accepted (and documented
in docs/operations/sources.md); anything else is refused:

- ``github``: ``X-Hub-Signature-256: sha256=<hex>`` (HMAC-SHA256 of the
  body), ``X-GitHub-Event`` (``push``; other events are ignored, a missing
  one is a malformed request), ``X-GitHub-Delivery`` as the delivery id;
- ``gitlab``: ``X-Gitlab-Token`` equal to the shared secret,
  ``X-Gitlab-Event: Push Hook`` / ``Tag Push Hook`` (required),
  ``X-Gitlab-Event-UUID`` or ``Idempotency-Key`` as the delivery id;
- ``generic``: ``X-Signature-256: sha256=<hex>`` (HMAC-SHA256 of the body),
  ``X-Delivery-Id`` and a JSON body ``{"ref", "after", "repository"}``.

``<hex>`` is 64 hex digits (either case). A ``ReplayGuard`` remembers
recent delivery ids *and* digests of verified bodies, so a captured body
re-sent under a new delivery id is a replay too; ``event_matches`` ignores
pushes to other branches and repos.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from driftless.records import record
from driftless.source.git import SourceSpec
from driftless.source.semver import is_range, newest_in_range

__all__ = [
    "InvalidWebhook",
    "PushEvent",
    "ReplayGuard",
    "body_digest",
    "event_matches",
    "parse_push",
    "verify",
    "verify_github",
    "verify_gitlab",
    "verify_hmac",
]

PROVIDERS = ("github", "gitlab", "generic")
_REPO_FIELDS = ("clone_url", "git_http_url", "html_url", "full_name", "path_with_namespace")


class InvalidWebhook(ValueError):
    """The request is not a well-formed push of the named provider (answer 400)."""


@record
class PushEvent:
    """What a push webhook says: which delivery, which ref moved to which commit."""

    delivery_id: str
    ref: str
    after: str
    repository: str

    @property
    def deleted(self) -> bool:
        return self.after.strip("0") == ""


def verify_hmac(secret: bytes, body: bytes, header: str | None) -> bool:
    """``header`` is ``sha256=<hex>`` of HMAC-SHA256(secret, body); the prefix is required."""
    if not header or not secret or not header.startswith("sha256="):
        return False
    given = header.removeprefix("sha256=").lower()
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())


def verify_github(secret: bytes, body: bytes, signature_header: str | None) -> bool:
    """GitHub's ``X-Hub-Signature-256``: ``sha256=<hex>``, as ``verify_hmac``."""
    return verify_hmac(secret, body, signature_header)


def verify_gitlab(token: str, header: str | None) -> bool:
    """GitLab's ``X-Gitlab-Token``: the shared secret sent as is."""
    if not header or not token:
        return False
    return hmac.compare_digest(header.encode(), token.encode())


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def verify(provider: str, secret: bytes, headers: Mapping[str, str], body: bytes) -> bool:
    """Check a request's signature or token the way ``provider`` sends it."""
    h = _lower(headers)
    if provider == "github":
        return verify_github(secret, body, h.get("x-hub-signature-256"))
    if provider == "gitlab":
        return verify_gitlab(secret.decode(errors="replace"), h.get("x-gitlab-token"))
    if provider == "generic":
        return verify_hmac(secret, body, h.get("x-signature-256"))
    raise InvalidWebhook(f"unknown webhook provider '{provider}'; use one of {PROVIDERS}")


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidWebhook(f"webhook body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidWebhook("webhook body is not a JSON object")
    return data


def _field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidWebhook(f"webhook body has no '{key}' string")
    return value


def _repository(data: Mapping[str, Any]) -> str:
    """A URL or ``owner/name`` identifying the pushed repository, '' if none."""
    for key in ("repository", "project"):
        repo = data.get(key)
        if isinstance(repo, str):
            return repo
        if isinstance(repo, Mapping):
            for name in (
                "clone_url",
                "git_http_url",
                "html_url",
                "full_name",
                "path_with_namespace",
            ):
                if isinstance(repo.get(name), str):
                    return str(repo[name])
    return ""


DELIVERY_HEADERS = {
    "github": ("x-github-delivery",),
    "gitlab": ("x-gitlab-event-uuid", "idempotency-key"),
    "generic": ("x-delivery-id",),
}
EVENT_HEADERS = {"github": "x-github-event", "gitlab": "x-gitlab-event"}


def body_digest(body: bytes) -> str:
    """The replay key of a body: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _delivery_id(provider: str, h: Mapping[str, str], body: bytes) -> str:
    for name in DELIVERY_HEADERS[provider]:
        if h.get(name):
            return h[name]
    # Without an id, the same body delivered twice is the replay to catch.
    return body_digest(body)


def _is_push(provider: str, h: Mapping[str, str]) -> bool:
    header = EVENT_HEADERS.get(provider)
    if header is None:
        return True  # generic: every delivery is a push
    event = h.get(header)
    if not event:
        raise InvalidWebhook(f"{provider} webhook without a {header} header")
    if provider == "github":
        return event == "push"
    return event in ("Push Hook", "Tag Push Hook")


def parse_push(provider: str, headers: Mapping[str, str], body: bytes) -> PushEvent | None:
    """The push a verified request describes; None for other events (e.g. ping).

    Raises ``InvalidWebhook`` for an unknown provider or a malformed body.
    """
    if provider not in PROVIDERS:
        raise InvalidWebhook(f"unknown webhook provider '{provider}'; use one of {PROVIDERS}")
    h = _lower(headers)
    if not _is_push(provider, h):
        return None
    data = _json(body)
    ref = _field(data, "ref")
    if provider == "generic" and not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    after = data.get("after") if isinstance(data.get("after"), str) else ""
    return PushEvent(_delivery_id(provider, h, body), ref, str(after), _repository(data))


class ReplayGuard:
    """Remembers the last ``max_entries`` keys; a repeat is a replay.

    The agent feeds it both the delivery id and the digest of the verified
    body (``seen``): the id alone is not covered by any signature, so a
    captured body re-sent under a new id must be caught by its digest.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max(1, max_entries)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()  # the HTTP server may call from several threads

    def accept(self, delivery_id: str) -> bool:
        """True the first time an id is seen; False for a replay."""
        with self._lock:
            if delivery_id in self._seen:
                self._seen.move_to_end(delivery_id)
                return False
            self._seen[delivery_id] = None
            if len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True

    def accept_delivery(self, delivery_id: str, body: bytes) -> bool:
        """True for a new delivery: neither its id nor its body was seen before."""
        keys = dict.fromkeys(("id:" + delivery_id, "body:" + body_digest(body)))
        with self._lock:
            if any(k in self._seen for k in keys):
                for k in keys:
                    self._remember(k)
                return False
            for k in keys:
                self._remember(k)
            return True

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)

    def __contains__(self, delivery_id: str) -> bool:
        with self._lock:
            return delivery_id in self._seen


def _repo_key(url: str) -> tuple[str, str]:
    """(host, owner/name) of a git URL in any of its spellings; host may be ''."""
    text = url.strip()
    if "://" not in text and "@" in text.split("/")[0] and ":" in text:
        user_host, _, path = text.partition(":")  # scp-like git@host:owner/name
        host = user_host.rpartition("@")[2]
    elif "://" in text:
        parts = urlsplit(text)
        host, path = (parts.hostname or ""), parts.path
    else:
        host, path = "", text
    return host.lower(), path.strip("/").removesuffix(".git").lower()


def _same_repository(event_repo: str, spec_url: str) -> bool:
    if not event_repo:
        return True  # the sender did not say; the ref check decides
    (ehost, epath), (shost, spath) = _repo_key(event_repo), _repo_key(spec_url)
    if ehost and shost and ehost != shost:
        return False
    return epath == spath or spath.endswith("/" + epath) or epath.endswith("/" + spath)


def _ref_matches(ref: str, spec_ref: str) -> bool:
    if is_range(spec_ref):
        tag = ref.removeprefix("refs/tags/")
        return ref.startswith("refs/tags/") and newest_in_range([tag], spec_ref) == tag
    if spec_ref.startswith("refs/"):
        return ref == spec_ref
    return ref in (f"refs/heads/{spec_ref}", f"refs/tags/{spec_ref}")


def event_matches(event: PushEvent, spec: SourceSpec) -> bool:
    """Does this push move what ``spec`` follows? Other branches, repos and deletions: no."""
    if event.deleted and event.after:
        return False
    return _ref_matches(event.ref, spec.ref.strip()) and _same_repository(
        event.repository, spec.url
    )
