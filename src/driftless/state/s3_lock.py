"""Leased stack locks for the S3 state backend: an S3 object or a DynamoDB item.

``ObjectLocks`` keeps ``<key>/<stack>.lock`` in the state bucket, created
with ``If-None-Match: *`` so only one writer can create it; an expired lease
is taken over with ``If-Match`` on the old ETag, so two takers cannot both
win. ``TableLocks`` keeps one item per stack in a DynamoDB table (hash key
``LockID``) written with a conditional ``PutItem`` (absent, or expired).
Both store the ``LockInfo`` JSON plus the lease length so renewals keep it.
Network I/O only.
"""

from __future__ import annotations

import json
import time
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
    """The lock half of ``StateBackend``."""

    def lock(self, stack: str, info: LockInfo) -> str: ...
    def renew(self, stack: str, lock_id: str) -> None: ...
    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None: ...
    def lock_info(self, stack: str) -> LockInfo | None: ...


def _encode(info: LockInfo, lease: float) -> str:
    return json.dumps({**info.to_json(), "lease": lease}, sort_keys=True)


def _decode(raw: bytes | str) -> tuple[LockInfo, float]:
    doc = json.loads(raw)
    info = LockInfo.from_json(doc)
    return info, float(doc.get("lease", info.expires - info.created))


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

    def _current(self, stack: str) -> tuple[LockInfo, float, str] | None:
        got = self._store.get(self._name(stack))
        if got is None:
            return None
        info, lease = _decode(got[0])
        return info, lease, got[1]

    def lock(self, stack: str, info: LockInfo) -> str:
        """Create the lock object, or take over an expired one; else ``LockHeld``."""
        body = _encode(info, info.expires - info.created).encode()
        for _ in range(_ATTEMPTS):
            try:
                self._store.put(self._name(stack), body, if_absent=True)
                return info.id
            except PreconditionFailed:
                pass
            current = self._current(stack)
            if current is None:
                continue  # released meanwhile: try to create again
            holder, _, etag = current
            if not holder.expired():
                raise LockHeld(stack, holder)
            try:
                self._store.put(self._name(stack), body, if_match=etag)
                return info.id
            except PreconditionFailed:
                continue  # someone else took it over first; look again
        return self._give_up(stack, info)

    def _give_up(self, stack: str, info: LockInfo) -> str:
        current = self._current(stack)
        raise LockHeld(stack, current[0] if current else info)

    def renew(self, stack: str, lock_id: str) -> None:
        """Push our lease forward; ``StateError`` if the lock is not ours any more."""
        current = self._current(stack)
        if current is None or current[0].id != lock_id:
            raise _not_ours(stack, self._store.loc.url(self._name(stack)), current and current[0])
        info, lease, etag = current
        body = _encode(info.renewed(lease=lease), lease).encode()
        try:
            self._store.put(self._name(stack), body, if_match=etag)
        except PreconditionFailed:
            now = self._current(stack)
            raise _not_ours(stack, self._store.loc.url(self._name(stack)), now and now[0]) from None

    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None:
        """Release our lock (``force``: whoever holds it); a missing lock is fine."""
        current = self._current(stack)
        if current is None:
            return
        info, _, etag = current
        if info.id != lock_id and not force:
            raise _not_ours(stack, self._store.loc.url(self._name(stack)), info)
        try:
            self._store.delete(self._name(stack), if_match=etag)
        except PreconditionFailed:
            if not force:
                now = self._current(stack)
                raise _not_ours(
                    stack, self._store.loc.url(self._name(stack)), now and now[0]
                ) from None
            self._store.delete(self._name(stack))

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

    def _item(self, info: LockInfo, lease: float) -> dict[str, Any]:
        return {
            "Owner": {"S": info.id},
            "Expires": {"N": repr(info.expires)},
            "Info": {"S": _encode(info, lease)},
        }

    def lock(self, stack: str, info: LockInfo) -> str:
        """Conditional put: absent or expired; else ``LockHeld`` naming the holder."""
        item = {**self._key(stack), **self._item(info, info.expires - info.created)}
        for _ in range(_ATTEMPTS):
            try:
                self._call(
                    "put_item", Item=item,
                    ConditionExpression="attribute_not_exists(LockID) OR Expires < :now",
                    ExpressionAttributeValues={":now": {"N": repr(time.time())}},
                )
                return info.id
            except PreconditionFailed:
                holder = self.lock_info(stack)
                if holder is not None and not holder.expired():
                    raise LockHeld(stack, holder) from None
        raise LockHeld(stack, self.lock_info(stack) or info)

    def _owned(self, stack: str, lock_id: str) -> tuple[LockInfo, float]:
        raw = self._raw(stack)
        if raw is None or raw[0].id != lock_id:
            raise _not_ours(stack, self._where(), raw and raw[0])
        return raw

    def renew(self, stack: str, lock_id: str) -> None:
        """Push our lease forward, only while the item still names us."""
        info, lease = self._owned(stack, lock_id)
        fresh = info.renewed(lease=lease)
        try:
            self._call(
                "put_item", Item={**self._key(stack), **self._item(fresh, lease)},
                ConditionExpression="#o = :id", ExpressionAttributeNames={"#o": "Owner"},
                ExpressionAttributeValues={":id": {"S": lock_id}},
            )
        except PreconditionFailed:
            raise _not_ours(stack, self._where(), self.lock_info(stack)) from None

    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None:
        """Delete our item (``force``: whoever's); a missing lock is fine."""
        if force:
            self._call("delete_item", Key=self._key(stack))
            return
        try:
            self._call(
                "delete_item", Key=self._key(stack),
                ConditionExpression="attribute_not_exists(LockID) OR #o = :id",
                ExpressionAttributeNames={"#o": "Owner"},
                ExpressionAttributeValues={":id": {"S": lock_id}},
            )
        except PreconditionFailed:
            raise _not_ours(stack, self._where(), self.lock_info(stack)) from None

    def _raw(self, stack: str) -> tuple[LockInfo, float] | None:
        resp = self._call("get_item", Key=self._key(stack), ConsistentRead=True)
        item = resp.get("Item")
        return _decode(item["Info"]["S"]) if item else None

    def lock_info(self, stack: str) -> LockInfo | None:
        """The holder, expired or not."""
        raw = self._raw(stack)
        return raw[0] if raw else None
