"""Leased stack locks for the S3 state backend: an S3 object or a DynamoDB item.

``ObjectLocks`` keeps ``<key>/<stack>.lock`` in the state bucket, created
with ``If-None-Match: *`` so only one writer can create it; an expired lease,
or the lease of a holder the caller found dead (``replacing``), is taken over
with ``If-Match`` on the ETag of the very object that was judged, so two
takers cannot both win (the loser gets ``LockHeld``). ``TableLocks`` keeps
one item per stack in a DynamoDB table (hash key ``LockID``); creating is a
conditional ``PutItem`` (absent, or our own id) and a takeover is conditional
on the old item's ``Info`` text, which changes with every take and renewal.

Every lock stores a fresh fencing token beside the ``LockInfo`` JSON and the
lease length (renewals keep it); ``holder`` returns it so the backend can
check, before each write, that the lock is still the one it took.
Network I/O only.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from driftless.errors import LockHeld, StateError
from driftless.model import LockInfo
from driftless.state.s3_store import (
    PreconditionFailed,
    S3Location,
    S3Store,
    aws_error_code,
    state_error,
)

__all__ = ["LockStore", "ObjectLocks", "TableLocks"]

# A lock can vanish between a refused create and the read of its holder;
# a few retries settle that race without looping forever.
_ATTEMPTS = 5


class LockStore(Protocol):
    """The lock half of ``StateBackend``; ``lock`` returns the new fencing token."""

    def lock(self, stack: str, info: LockInfo, *, replacing: LockInfo | None = None) -> str: ...
    def renew(self, stack: str, lock_id: str, token: str | None) -> None: ...
    def unlock(self, stack: str, lock_id: str, token: str | None, *,
               force: bool = False) -> None: ...
    def holder(self, stack: str) -> tuple[LockInfo, str | None] | None: ...
    def lock_info(self, stack: str) -> LockInfo | None: ...


def _encode(info: LockInfo, lease: float, token: str | None) -> str:
    return json.dumps({**info.to_json(), "lease": lease, "token": token}, sort_keys=True)


def _decode(raw: bytes | str) -> tuple[LockInfo, float, str | None]:
    doc = json.loads(raw)
    info = LockInfo.from_json(doc)
    return info, float(doc.get("lease", info.expires - info.created)), doc.get("token")


def _takeable(current: LockInfo, info: LockInfo, replacing: LockInfo | None) -> bool:
    """Whether ``info`` may replace ``current``: our own id, expired, or the very
    holder the caller found dead (same id and start, so not a newer lock)."""
    if current.id == info.id or current.expired():
        return True
    return replacing is not None and (current.id, current.created, current.pid) == (
        replacing.id, replacing.created, replacing.pid)


def _not_ours(stack: str, where: str, holder: LockInfo | None) -> StateError:
    who = f"held by {holder.describe()}" if holder else "not held by anyone"
    return StateError(
        f"lock of stack '{stack}' ({where}) is no longer ours: it is {who}",
        hint="another process took it over after our lease expired; re-run the command",
    )


class ObjectLocks:
    """Locks as conditional objects in the state bucket."""

    def __init__(self, store: S3Store) -> None:
        self._store = store

    @staticmethod
    def _name(stack: str) -> str:
        return f"{stack}.lock"

    def _current(self, stack: str) -> tuple[LockInfo, float, str | None, str] | None:
        got = self._store.get(self._name(stack))
        if got is None:
            return None
        info, lease, token = _decode(got[0])
        return info, lease, token, got[1]

    def lock(self, stack: str, info: LockInfo, *, replacing: LockInfo | None = None) -> str:
        """Create the lock object, or take over an expired (or ``replacing``) one by
        ``If-Match`` on its ETag; else ``LockHeld``. Returns the new token."""
        token = uuid.uuid4().hex
        body = _encode(info, info.expires - info.created, token).encode()
        for _ in range(_ATTEMPTS):
            try:
                self._store.put(self._name(stack), body, if_absent=True)
                return token
            except PreconditionFailed:
                pass
            current = self._current(stack)
            if current is None:
                continue  # released meanwhile: try to create again
            if not _takeable(current[0], info, replacing):
                raise LockHeld(stack, current[0])
            try:
                self._store.put(self._name(stack), body, if_match=current[3])
                return token
            except PreconditionFailed:
                continue  # someone else took it over first; look again
        return self._give_up(stack, info)

    def _give_up(self, stack: str, info: LockInfo) -> str:
        current = self._current(stack)
        raise LockHeld(stack, current[0] if current else info)

    def _owned(self, stack: str, lock_id: str, token: str | None
               ) -> tuple[LockInfo, float, str | None, str]:
        """The current lock, if it is ``lock_id`` (and holds ``token`` when given)."""
        current = self._current(stack)
        if current is None or current[0].id != lock_id or token not in (None, current[2]):
            raise _not_ours(stack, self._store.loc.url(self._name(stack)), current and current[0])
        return current

    def renew(self, stack: str, lock_id: str, token: str | None) -> None:
        """Push our lease forward; ``StateError`` if the lock is not ours any more."""
        info, lease, stored_token, etag = self._owned(stack, lock_id, token)
        body = _encode(info.renewed(lease=lease), lease, stored_token).encode()
        try:
            self._store.put(self._name(stack), body, if_match=etag)
        except PreconditionFailed:
            now = self._current(stack)
            raise _not_ours(stack, self._store.loc.url(self._name(stack)), now and now[0]) from None

    def unlock(self, stack: str, lock_id: str, token: str | None, *,
               force: bool = False) -> None:
        """Release our lock (``force``: whoever holds it); a missing lock is fine."""
        current = self._current(stack)
        if current is None:
            return
        if not force:
            current = self._owned(stack, lock_id, token)
        try:
            self._store.delete(self._name(stack), if_match=current[3])
        except PreconditionFailed:
            if not force:
                now = self._current(stack)
                raise _not_ours(
                    stack, self._store.loc.url(self._name(stack)), now and now[0]
                ) from None
            self._store.delete(self._name(stack))

    def holder(self, stack: str) -> tuple[LockInfo, str | None] | None:
        """The holder and its fencing token."""
        current = self._current(stack)
        return (current[0], current[2]) if current else None

    def lock_info(self, stack: str) -> LockInfo | None:
        """The holder, expired or not."""
        current = self._current(stack)
        return current[0] if current else None


class TableLocks:
    """Locks as conditional items in a DynamoDB table keyed by ``LockID``."""

    def __init__(self, loc: S3Location, client: Any) -> None:
        if loc.lock_table is None:
            raise ValueError("TableLocks needs a lock table")
        self._loc = loc
        self._table = loc.lock_table
        self._ddb = client

    def _key(self, stack: str) -> dict[str, Any]:
        return {"LockID": {"S": f"{self._loc.bucket}/{self._loc.key(stack)}"}}

    def _where(self) -> str:
        return f"dynamodb table '{self._table}'"

    def _call(self, op: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._ddb, op)(TableName=self._table, **kwargs)
        except Exception as exc:
            if aws_error_code(exc) == "ConditionalCheckFailedException":
                raise PreconditionFailed(op) from None
            raise state_error(exc, doing=op, where=self._where()) from None

    def _item(self, info: LockInfo, lease: float, token: str | None) -> dict[str, Any]:
        return {
            "Owner": {"S": info.id},
            "Expires": {"N": repr(info.expires)},
            "Info": {"S": _encode(info, lease, token)},
        }

    def _put(self, stack: str, item: dict[str, Any], *, old_info: str | None) -> None:
        """Put ``item`` if the lock is absent or ours (``old_info`` None), else only
        while the item is still exactly ``old_info`` (compare-and-set)."""
        if old_info is None:
            self._call("put_item", Item=item,
                       ConditionExpression="attribute_not_exists(LockID) OR #o = :me",
                       ExpressionAttributeNames={"#o": "Owner"},
                       ExpressionAttributeValues={":me": item["Owner"]})
            return
        self._call("put_item", Item=item, ConditionExpression="#i = :old",
                   ExpressionAttributeNames={"#i": "Info"},
                   ExpressionAttributeValues={":old": {"S": old_info}})

    def lock(self, stack: str, info: LockInfo, *, replacing: LockInfo | None = None) -> str:
        """Create the item, or take over an expired (or ``replacing``) one conditional
        on its old ``Info``; else ``LockHeld`` naming the holder. Returns the token."""
        token = uuid.uuid4().hex
        item = {**self._key(stack), **self._item(info, info.expires - info.created, token)}
        for _ in range(_ATTEMPTS):
            try:
                self._put(stack, item, old_info=None)
                return token
            except PreconditionFailed:
                pass
            raw = self._item_now(stack)
            if raw is None:
                continue  # released meanwhile: try to create again
            holder = _decode(raw)[0]
            if not _takeable(holder, info, replacing):
                raise LockHeld(stack, holder)
            try:
                self._put(stack, item, old_info=raw)
                return token
            except PreconditionFailed:
                continue  # someone else took it over (or it was renewed) first
        raise LockHeld(stack, self.lock_info(stack) or info)

    def _owned(self, stack: str, lock_id: str, token: str | None
               ) -> tuple[LockInfo, float, str | None, str]:
        raw = self._item_now(stack)
        decoded = _decode(raw) if raw is not None else None
        if raw is None or decoded is None or decoded[0].id != lock_id or token not in (
                None, decoded[2]):
            raise _not_ours(stack, self._where(), decoded and decoded[0])
        return (*decoded, raw)

    def renew(self, stack: str, lock_id: str, token: str | None) -> None:
        """Push our lease forward, only while the item is still the one we read."""
        info, lease, stored_token, raw = self._owned(stack, lock_id, token)
        fresh = info.renewed(lease=lease)
        try:
            self._put(stack, {**self._key(stack), **self._item(fresh, lease, stored_token)},
                      old_info=raw)
        except PreconditionFailed:
            raise _not_ours(stack, self._where(), self.lock_info(stack)) from None

    def unlock(self, stack: str, lock_id: str, token: str | None, *,
               force: bool = False) -> None:
        """Delete our item (``force``: whoever's); a missing lock is fine."""
        if force:
            self._call("delete_item", Key=self._key(stack))
            return
        if self._item_now(stack) is None:
            return
        raw = self._owned(stack, lock_id, token)[3]
        try:
            self._call("delete_item", Key=self._key(stack), ConditionExpression="#i = :old",
                       ExpressionAttributeNames={"#i": "Info"},
                       ExpressionAttributeValues={":old": {"S": raw}})
        except PreconditionFailed:
            raise _not_ours(stack, self._where(), self.lock_info(stack)) from None

    def _item_now(self, stack: str) -> str | None:
        """The item's ``Info`` text, read consistently."""
        resp = self._call("get_item", Key=self._key(stack), ConsistentRead=True)
        item = resp.get("Item")
        return str(item["Info"]["S"]) if item else None

    def holder(self, stack: str) -> tuple[LockInfo, str | None] | None:
        """The holder and its fencing token."""
        raw = self._item_now(stack)
        if raw is None:
            return None
        info, _, token = _decode(raw)
        return info, token

    def lock_info(self, stack: str) -> LockInfo | None:
        """The holder, expired or not."""
        held = self.holder(stack)
        return held[0] if held else None
