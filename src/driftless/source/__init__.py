"""Git → Source(revision, path, digest); webhook verification.

Layer ``driftless.source``: imports ``model`` and ``errors`` only. It runs
git, writes under the cache directory it is given, and verifies webhook
requests handed to it as bytes (it serves no HTTP itself).
"""

from driftless.source.git import GitSource, Source, SourceSpec
from driftless.source.gitcmd import redact_url
from driftless.source.semver import Version, VersionRange, is_range, newest_in_range, parse_version
from driftless.source.webhook import (
    InvalidWebhook,
    PushEvent,
    ReplayGuard,
    event_matches,
    parse_push,
    verify,
    verify_github,
    verify_gitlab,
    verify_hmac,
)

__all__ = [
    "GitSource",
    "InvalidWebhook",
    "PushEvent",
    "ReplayGuard",
    "Source",
    "SourceSpec",
    "Version",
    "VersionRange",
    "event_matches",
    "is_range",
    "newest_in_range",
    "parse_push",
    "parse_version",
    "redact_url",
    "verify",
    "verify_github",
    "verify_gitlab",
    "verify_hmac",
]
