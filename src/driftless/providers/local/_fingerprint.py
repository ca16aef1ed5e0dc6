"""The stat cache of file-like local kinds: git's index, for one file at a time.

After driftless writes or hashes a file it records, in the resource's
``private`` state, the file's (size, mtime_ns, ctime_ns, inode), the digest
of its bytes and ``seen_ns``, the moment of the record. The next read trusts
the digest without opening the file when all four still match and the record
is not *racily clean*; any difference means "hash it".

Why each field: a rewrite by rename changes the inode; a write in place
changes mtime, and ctime, which no one can set back (``touch -d`` and
``os.utime`` set mtime, and move ctime to now); size is free.

Racily clean (git's term): file systems stamp times from a coarse clock, so
a write landing in the same clock tick as the recorded mtime leaves mtime
(and ctime) unchanged. A record whose mtime is not older than the moment it
was taken by more than ``RACY_NS`` could be followed by such a write, so it
is not trusted: the file is hashed, as git hashes index entries whose mtime
is not older than the index. On a file system that keeps whole seconds the
window is two seconds. So that files driftless writes itself are not racy
ever after (their record is taken right after the write), ``model.helper.write_file`` sets
their mtime ``2 * RACY_NS`` into the past before the rename: any later
write, in place or not, then moves mtime. Pure (the clock aside).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftless.providers.local._host import StatLike

__all__ = ["RACY_NS", "fingerprint", "racy", "stat_matches", "trusted_digest"]

# longer than a tick of the coarse clock Linux stamps files with (1-10 ms)
RACY_NS = 20_000_000
_SECOND = 1_000_000_000
_WHOLE_SECONDS_NS = 2 * _SECOND  # FAT keeps even seconds


def racy(mtime_ns: int, seen_ns: int) -> bool:
    """Whether a record taken at ``seen_ns`` of a file with ``mtime_ns`` could miss a
    later write in the same timestamp tick."""
    window = _WHOLE_SECONDS_NS if mtime_ns % _SECOND == 0 else RACY_NS
    return seen_ns - mtime_ns < window


def fingerprint(st: StatLike, digest: str, *, keyed: bool,
                seen_ns: int | None = None) -> dict[str, Any]:
    """What ``private`` keeps so the next read can skip hashing.

    ``seen_ns`` is when ``st`` was taken (now, when not given); callers that
    hash after the stat pass the moment before, so the record errs towards racy.
    """
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns,
            "ino": st.st_ino, "digest": digest, "keyed": keyed,
            "seen_ns": time.time_ns() if seen_ns is None else seen_ns}


def stat_matches(prior: Mapping[str, Any], st: StatLike) -> bool:
    """(size, mtime_ns, ctime_ns, inode) as recorded, and the record not racily clean.

    A record without ``ctime_ns`` or ``seen_ns`` (state written by an older
    version) never matches: the file is hashed until driftless records it again.
    """
    seen = prior.get("seen_ns")
    return (prior.get("mtime_ns") == st.st_mtime_ns and prior.get("ctime_ns") == st.st_ctime_ns
            and prior.get("size") == st.st_size and prior.get("ino") == st.st_ino
            and isinstance(seen, int) and not racy(st.st_mtime_ns, seen))


def trusted_digest(prior: Mapping[str, Any] | None, st: StatLike, *,
                   keyed: bool) -> str | None:
    """The recorded digest when the stat still matches the record (see ``stat_matches``)."""
    if prior is not None and prior.get("keyed") == keyed and stat_matches(prior, st):
        digest = prior.get("digest")
        return digest if isinstance(digest, str) else None
    return None
