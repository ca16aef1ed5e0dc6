"""Git → Source(revision, path, digest); webhook verification.

Layer ``driftless.source``: imports ``model`` and ``errors`` only. It runs
git, writes under the cache directory it is given, and verifies webhook
requests handed to it as bytes (it serves no HTTP itself).
"""

from driftless.source.git import GitSource, Source, SourceSpec
from driftless.source.gitcmd import redact_url
from driftless.source.semver import Version, VersionRange, is_range, newest_in_range, parse_version

__all__ = [
    "GitSource",
    "Source",
    "SourceSpec",
    "Version",
    "VersionRange",
    "is_range",
    "newest_in_range",
    "parse_version",
    "redact_url",
]
