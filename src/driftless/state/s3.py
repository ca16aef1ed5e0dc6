"""The S3 state backend: shared state for teams, in a versioned bucket.

URL: ``s3://bucket/key?region=us-east-1&endpoint=http://127.0.0.1:9000
&lock_table=NAME&profile=NAME``. Each stack's snapshot is the JSON object
``<key>/<stack>.json``; the bucket should be versioned so every serial can be
recovered (``driftless bootstrap`` creates it so); ``history`` and
``snapshot`` list and read those versions for ``driftless state history`` and
``state restore``, each version carrying its serial, resource count and
writer as object metadata. Writes are conditional:
the stored serial and lineage are checked, and the put carries ``If-Match``
on the ETag that was read (``If-None-Match: *`` for a stack's first write),
so of two writers racing from the same serial exactly one wins.

Locks are leases kept either in ``<key>/<stack>.lock`` (default) or in a
DynamoDB table (``lock_table``), see ``s3_lock``; the journal is one object
per side effect, see ``s3_journal``. Credentials come from the standard AWS
chain and are never stored or printed. Network I/O only; boto3 is imported
when the first ``s3://`` URL is opened.

Fencing: every lock carries a fresh token, which this backend instance
remembers per stack it locked. Each snapshot write and journal write first
reads the lock and refuses with "lock lost" unless it still holds our token;
a client that took no lock writes as before. S3 has no transactions, so a
window remains: the lease can pass on between that check and the put (one
round trip, plus the time a takeover needs: the old lease must expire or be
force-unlocked). The snapshot put carries ``If-Match`` on the ETag we read,
so a new holder that read before our put cannot be overwritten unseen: its
own write fails as stale. After the put the lock is checked again, and a
loss found then is reported ("lock lost", the write landed) so the run stops
before its next change; a journal intent is re-checked the same way before
its side effect may start.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from driftless.errors import ConfigError, StateConflict, StateError
from driftless.model import LockInfo, StateSnapshot
from driftless.state.base import SnapshotInfo
from driftless.state.s3_journal import S3Journal
from driftless.state.s3_lock import LockStore, ObjectLocks, TableLocks
from driftless.state.s3_store import (
    PreconditionFailed,
    S3Location,
    S3Store,
    client_kwargs,
    make_session,
)

__all__ = ["HISTORY", "S3Backend", "from_url", "parse_url"]

# How many of a stack's object versions ``state history`` lists (all stay restorable).
HISTORY = 10
# User metadata on each snapshot version: what ``history`` shows without a GET.
_SERIAL, _COUNT, _WRITER = "driftless-serial", "driftless-resources", "driftless-writer"

_OPTIONS = frozenset({"region", "endpoint", "lock_table", "profile"})


def parse_url(url: str) -> S3Location:
    """``s3://bucket/key?...`` → ``S3Location``; ``ConfigError`` naming what is wrong."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - _OPTIONS)
    if parts.scheme != "s3" or not parts.netloc:
        raise ConfigError(f"bad S3 state URL '{url}'", hint="use s3://bucket/key?region=...")
    if unknown:
        raise ConfigError(
            f"unknown option '{unknown[0]}' in state URL '{url}'",
            hint=f"known options: {', '.join(sorted(_OPTIONS))}",
        )
    endpoint = query.get("endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    return S3Location(
        bucket=parts.netloc, prefix=parts.path.strip("/"),
        region=query.get("region") or os.environ.get("AWS_DEFAULT_REGION") or None,
        endpoint=endpoint or None, profile=query.get("profile"),
        lock_table=query.get("lock_table"),
    )


def from_url(url: str, root: Path) -> S3Backend:
    """The backend for an ``s3://`` URL (``root`` is unused: nothing is local)."""
    del root
    return S3Backend(parse_url(url))


def _stale(stack: str, where: str, stored: int, snap: StateSnapshot) -> StateConflict:
    return StateConflict(
        f"state of stack '{stack}' at {where} changed since it was read "
        f"(stored serial {stored}, this write is serial {snap.serial}); nothing was written",
        hint="re-run plan (another process applied meanwhile)",
    )


class S3Backend:
    """``StateBackend`` over one S3 bucket prefix (and optionally a DynamoDB lock table)."""

    def __init__(self, loc: S3Location, *, session: Any | None = None) -> None:
        self.loc = loc
        session = session if session is not None else make_session(loc)
        kwargs = client_kwargs(loc)
        # Clients are thread-safe, sessions are not: make every client now.
        self._store = S3Store(loc, session.client("s3", **kwargs))
        self._locks: LockStore
        if loc.lock_table:
            ddb_kwargs = {k: v for k, v in kwargs.items() if k != "endpoint_url"}
            endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or loc.endpoint
            if endpoint:
                ddb_kwargs["endpoint_url"] = endpoint
            self._locks = TableLocks(loc, session.client("dynamodb", **ddb_kwargs))
        else:
            self._locks = ObjectLocks(self._store)
        # stack -> (lock id, fencing token) of each lock this instance took.
        self._held: dict[str, tuple[str, str]] = {}
        # stack -> "who: operation" of that lock, stored with each snapshot version.
        self._writers: dict[str, str] = {}
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Backend({self.loc.url()})"

    @staticmethod
    def _name(stack: str) -> str:
        return f"{stack}.json"

    def _stored(self, stack: str) -> tuple[StateSnapshot, str] | None:
        got = self._store.get(self._name(stack))
        if got is None:
            return None
        try:
            return StateSnapshot.from_json(json.loads(got[0])), got[1]
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"state of stack '{stack}' at {self.loc.url(self._name(stack))} is not "
                f"valid state JSON ({exc})",
                hint="restore an earlier object version: aws s3api list-object-versions",
            ) from None

    def read(self, stack: str) -> StateSnapshot:
        """The stored snapshot, or an empty one (serial 0) for a new stack."""
        stored = self._stored(stack)
        return stored[0] if stored else StateSnapshot.empty()

    def write(self, stack: str, snap: StateSnapshot) -> None:
        """Store ``snap`` if it is stored serial + 1 on the same lineage; else ``StateConflict``."""
        self.fence(stack, f"the write of serial {snap.serial}")
        stored = self._stored(stack)
        where = self.loc.url(self._name(stack))
        base = stored[0] if stored else None
        if base is not None and base.lineage != snap.lineage:
            raise StateConflict(
                f"state of stack '{stack}' at {where} belongs to another lineage "
                f"({base.lineage[:8]}, this write is {snap.lineage[:8]}); nothing was written",
                hint="this state is not the one the plan was made from; check the state URL",
            )
        if snap.serial != (base.serial if base else 0) + 1:
            raise _stale(stack, where, base.serial if base else 0, snap)
        self._put(stack, snap, etag=stored[1] if stored else None)
        self.fence(stack, f"the write of serial {snap.serial} (it landed: the lease "
                          "was lost while it ran)")

    def _put(self, stack: str, snap: StateSnapshot, *, etag: str | None) -> None:
        body = json.dumps(snap.to_json(), sort_keys=True, default=str).encode()
        with self._guard:
            writer = self._writers.get(stack) or "write without a lock"
        # What ``history`` lists, readable from a HEAD of each version (ASCII only).
        meta = {_SERIAL: str(snap.serial), _COUNT: str(len(snap.resources)),
                _WRITER: writer.encode("ascii", "replace").decode()}
        try:
            if etag is None:
                self._store.put(self._name(stack), body, if_absent=True, metadata=meta)
            else:
                self._store.put(self._name(stack), body, if_match=etag, metadata=meta)
        except PreconditionFailed:
            now = self.read(stack)
            raise _stale(stack, self.loc.url(self._name(stack)), now.serial, snap) from None

    def import_snapshot(self, stack: str, snap: StateSnapshot) -> None:
        """Store ``snap`` with its own serial (migration): only over nothing or an
        older serial of the same lineage; ``StateConflict`` otherwise."""
        stored = self._stored(stack)
        base = stored[0] if stored else None
        where = self.loc.url(self._name(stack))
        if base is not None and base.lineage != snap.lineage:
            raise StateConflict(
                f"{where} already holds another lineage of stack '{stack}' "
                f"({base.lineage[:8]}, importing {snap.lineage[:8]}); nothing was written",
                hint="pick an empty destination, or remove that state first",
            )
        if base is not None and base.serial >= snap.serial:
            raise _stale(stack, where, base.serial, snap)
        self._put(stack, snap, etag=stored[1] if stored else None)

    def history(self, stack: str) -> list[SnapshotInfo]:
        """The newest ``HISTORY`` versions of the stack's object (the bucket keeps every
        one while versioning is on), newest first."""
        out = []
        for version, at in itertools.islice(self._store.versions(self._name(stack)), HISTORY):
            meta = self._store.head_version(self._name(stack), version)
            if _SERIAL in meta:
                serial, count = int(meta[_SERIAL]), int(meta.get(_COUNT, 0))
                writer = meta.get(_WRITER, "?")
            else:  # written before versions carried metadata
                snap = self._version(stack, version)
                serial, count, writer = snap.serial, len(snap.resources), "(not recorded)"
            out.append(SnapshotInfo(stack, serial, at, count, writer))
        return out

    def snapshot(self, stack: str, serial: int) -> StateSnapshot:
        """The stack as stored at ``serial``: the newest object version holding it."""
        seen = 0
        for version, _ in self._store.versions(self._name(stack)):
            seen += 1
            meta = self._store.head_version(self._name(stack), version)
            if _SERIAL in meta and int(meta[_SERIAL]) != serial:
                continue
            snap = self._version(stack, version)
            if snap.serial == serial:
                return snap
        raise StateError(
            f"stack '{stack}': serial {serial} is not among the {seen} versions of "
            f"{self.loc.url(self._name(stack))}",
            hint=f"list them: driftless state history --stack {stack} (the newest "
                 f"{HISTORY}); a lifecycle rule may have expired older ones")

    def _version(self, stack: str, version: str) -> StateSnapshot:
        body, _ = self._store.get_version(self._name(stack), version)
        try:
            return StateSnapshot.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"version {version} of {self.loc.url(self._name(stack))} is not valid "
                f"state JSON ({exc})", hint="pick another serial") from None

    def stacks(self) -> list[str]:
        """Stacks with a stored snapshot."""
        names = self._store.names(delimiter="/")
        return sorted(n.removesuffix(".json") for n in names if n.endswith(".json"))

    # -- locks and fencing -----------------------------------------------------

    def lock(self, stack: str, info: LockInfo) -> str:
        """Take the stack's lease, or ``LockHeld`` naming the holder."""
        return self._hold(stack, info, self._locks.lock(stack, info))

    def take_over(self, stack: str, info: LockInfo, *, holder: LockInfo) -> str:
        """Take the lock from ``holder`` (found dead), conditional on its record:
        ``If-Match`` on the lock object's ETag, or the DynamoDB item's old text."""
        return self._hold(stack, info, self._locks.lock(stack, info, replacing=holder))

    def _hold(self, stack: str, info: LockInfo, token: str) -> str:
        with self._guard:
            self._held[stack] = (info.id, token)
            self._writers[stack] = f"{info.who}: {info.operation}"
        return info.id

    def _token(self, stack: str, lock_id: str) -> str | None:
        """Our token for ``lock_id`` when this instance took that lock."""
        with self._guard:
            held = self._held.get(stack)
        return held[1] if held is not None and held[0] == lock_id else None

    def fence(self, stack: str, doing: str) -> None:
        """Refuse ``doing`` unless the lock we took on ``stack`` still holds our
        token (one read of the lock); without a lock of ours, anything goes."""
        with self._guard:
            held = self._held.get(stack)
        if held is None:
            return
        current = self._locks.holder(stack)
        if current is None or current[1] != held[1]:
            now = "released" if current is None else f"held by {current[0].describe()}"
            raise StateError(
                f"lock lost: the lock on stack '{stack}' is {now}; {doing} was refused",
                hint="another process took the stack over after our lease ran out (or it "
                     "was force-unlocked); run plan again to see its state")

    def renew(self, stack: str, lock_id: str) -> None:
        """Push the lease forward; ``StateError`` if it is no longer ours."""
        self._locks.renew(stack, lock_id, self._token(stack, lock_id))

    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None:
        """Release (``force``: whoever holds it)."""
        token = self._token(stack, lock_id)
        with self._guard:
            if token is not None:
                del self._held[stack]
        self._locks.unlock(stack, lock_id, token, force=force)

    def lock_info(self, stack: str) -> LockInfo | None:
        """The current holder, expired or not."""
        return self._locks.lock_info(stack)

    def journal(self, stack: str) -> S3Journal:
        """The stack's journal (objects under ``<key>/<stack>.journal/``)."""
        return S3Journal(self._store, stack, fence=lambda doing: self.fence(stack, doing))

    def close(self) -> None:
        """Nothing to release: boto3 clients close their pools when collected."""
