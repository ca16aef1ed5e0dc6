"""DynamoDB coordinator: conditional writes, lease expiry times, fencing tokens.

I/O: the DynamoDB API through boto3 (any endpoint: AWS, or a moto server in
tests). One table, hash key ``pk`` and range key ``sk`` (both strings)::

    pk=lease            sk=<lease id>   node, expires (epoch s), ttl_at (TTL attribute)
    pk=member           sk=<node>       lease_id, tags, revision, address
    pk=rollout          sk=<rollout>    the record (created with attribute_not_exists)
    pk=slot#<rollout>   sk=<index>      holder, lease_id, token (token kept after release)
    pk=report#<rollout> sk=<node>       phase, message, token
    pk=halt             sk=<rollout>    reason, by
    pk=hist#<rollout>   sk=<seq>        one slot event

DynamoDB has no leases of its own: a lease is an item with an expiry time,
renewed by a conditional update that fails once it ran out. A slot is
granted by one ``TransactWriteItems``: the taker's lease is live, the slot's
token is still the one read (so two takers cannot both win), the previous
holder's lease has expired, and the history items are written in the same
transaction. Tokens grow by one per grant of a slot. Expiry is judged by
the writers' clocks: keep them synchronised (NTP), and keep lease TTLs well
above the skew. DynamoDB's own TTL only deletes old items, days later if it
likes; nothing depends on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from driftless.fleet.base import (
    CoordinatorError,
    Halt,
    Lease,
    LeaseLost,
    Member,
    Report,
    RolloutRecord,
    Slot,
    SlotEvent,
    SlotLost,
    record_from_json,
    record_to_json,
)

__all__ = ["DynamoCoordinator"]

Item = dict[str, Any]


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


class DynamoCoordinator:
    """The fleet store in one DynamoDB table (``dynamodb://table?region=...``)."""

    name = "dynamodb"

    def __init__(self, table: str, *, region: str | None = None,
                 endpoint: str | None = None, client: Any = None) -> None:
        self.table = table
        self._db = client or boto3.client("dynamodb", region_name=region, endpoint_url=endpoint)
        self._ids = 0

    # plumbing ---------------------------------------------------------------

    def create_table(self) -> None:
        """Create the table (on-demand) with TTL on ``ttl_at``, unless it exists."""
        try:
            self._db.create_table(
                TableName=self.table, BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                      {"AttributeName": "sk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                           {"AttributeName": "sk", "KeyType": "RANGE"}])
            self._db.get_waiter("table_exists").wait(TableName=self.table)
            self._db.update_time_to_live(TableName=self.table, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": "ttl_at"})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise self._error("create table", exc) from exc

    def _error(self, what: str, exc: Exception) -> CoordinatorError:
        code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else str(exc)
        return CoordinatorError(f"dynamodb table {self.table}: {what} failed ({code})")

    def _call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        try:
            out: dict[str, Any] = getattr(self._db, op)(TableName=self.table, **kwargs)
            return out
        except (ClientError, BotoCoreError) as exc:
            raise self._error(op, exc) from exc

    def _put_new(self, pk: str, sk: str, attrs: Item) -> bool:
        """Put an item only if absent; whether this call created it."""
        try:
            self._db.put_item(TableName=self.table, Item={"pk": _s(pk), "sk": _s(sk), **attrs},
                              ConditionExpression="attribute_not_exists(pk)")
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise self._error("put", exc) from exc
        except BotoCoreError as exc:
            raise self._error("put", exc) from exc

    def _get(self, pk: str, sk: str) -> Item | None:
        item: Item | None = self._call("get_item", Key={"pk": _s(pk), "sk": _s(sk)},
                                       ConsistentRead=True).get("Item")
        return item

    def _query(self, pk: str) -> list[Item]:
        items: list[Item] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": _s(pk)},
                                  "ConsistentRead": True}
        while True:
            out = self._call("query", **kwargs)
            items.extend(out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                return items
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction; ``None`` on success, else each item's cancellation code."""
        for item in items:
            next(iter(item.values()))["TableName"] = self.table
        try:
            self._db.transact_write_items(TransactItems=items)
            return None
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise self._error("transaction", exc) from exc
            reasons = exc.response.get("CancellationReasons") or []
            return [str(r.get("Code", "None")) for r in reasons] or ["ConditionalCheckFailed"]
        except BotoCoreError as exc:
            raise self._error("transaction", exc) from exc

    # leases and membership -----------------------------------------------------

    def _live_leases(self) -> dict[str, Item]:
        now = time.time()
        return {i["sk"]["S"]: i for i in self._query("lease")
                if float(i["expires"]["N"]) > now}

    def grant(self, node: str, *, ttl: float) -> Lease:
        self._ids += 1
        lease_id = f"{node}.{time.time_ns():x}.{self._ids}"
        expires = time.time() + ttl
        self._put_new("lease", lease_id, {"node": _s(node), "expires": _n(expires),
                                          "ttl": _n(ttl), "ttl_at": _n(int(expires) + 86400)})
        return Lease(lease_id, node, ttl)

    def keepalive(self, lease: Lease) -> None:
        now = time.time()
        try:
            self._db.update_item(
                TableName=self.table, Key={"pk": _s("lease"), "sk": _s(lease.id)},
                UpdateExpression="SET expires = :e, ttl_at = :t",
                ConditionExpression="expires > :now",
                ExpressionAttributeValues={":e": _n(now + lease.ttl), ":now": _n(now),
                                           ":t": _n(int(now + lease.ttl) + 86400)})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LeaseLost(f"lease of node '{lease.node}' expired in dynamodb table "
                                f"{self.table}") from exc
            raise self._error("keepalive", exc) from exc

    def revoke(self, lease: Lease) -> None:
        self._call("delete_item", Key={"pk": _s("lease"), "sk": _s(lease.id)})

    def join(self, lease: Lease, member: Member) -> None:
        item = {"pk": _s("member"), "sk": _s(member.node), "lease_id": _s(lease.id),
                "tags": {"M": {k: _s(v) for k, v in member.tags.items()}},
                "revision": _s(member.revision), "address": _s(member.address)}
        problems = self._transact([
            {"ConditionCheck": {"Key": {"pk": _s("lease"), "sk": _s(lease.id)},
                                "ConditionExpression": "expires > :now",
                                "ExpressionAttributeValues": {":now": _n(time.time())}}},
            {"Put": {"Item": item}}])
        if problems is not None:
            raise LeaseLost(f"lease of node '{lease.node}' expired in dynamodb table {self.table}")

    def members(self) -> list[Member]:
        live = self._live_leases()
        found = [i for i in self._query("member") if i["lease_id"]["S"] in live]
        return sorted((Member(i["sk"]["S"], {k: v["S"] for k, v in i["tags"]["M"].items()},
                              i["revision"]["S"], i["address"]["S"]) for i in found),
                      key=lambda m: m.node)

    # rollouts ------------------------------------------------------------------

    def open_rollout(self, record: RolloutRecord) -> RolloutRecord:
        self._put_new("rollout", record.rollout, {"record": _s(json.dumps(record_to_json(record)))})
        stored = self.rollout(record.rollout)
        assert stored is not None
        return stored

    def rollout(self, rollout: str) -> RolloutRecord | None:
        item = self._get("rollout", rollout)
        return None if item is None else _record(item)

    def rollouts(self) -> list[RolloutRecord]:
        return [_record(i) for i in self._query("rollout")]

    # slots -------------------------------------------------------------------

    def _held(self, rollout: str) -> list[tuple[Item, bool]]:
        """Slot items with a holder, and whether the holder's lease is live."""
        live = self._live_leases()
        return [(i, i["lease_id"]["S"] in live) for i in self._query(f"slot#{rollout}")
                if "holder" in i]

    def slots(self, rollout: str) -> list[Slot]:
        return [_slot(rollout, i) for i, alive in self._held(rollout) if alive]

    def acquire(self, rollout: str, lease: Lease) -> Slot | None:
        record = self.rollout(rollout)
        if record is None:
            raise CoordinatorError(f"no rollout {rollout!r} in dynamodb table {self.table}")
        items = {int(i["sk"]["S"]): i for i in self._query(f"slot#{rollout}")}
        leases = {i["sk"]["S"]: i for i in self._query("lease")}
        now = time.time()
        for mine in items.values():
            if mine.get("lease_id", {}).get("S") == lease.id and "holder" in mine:
                return _slot(rollout, mine)
        for index in range(record.slots):
            item = items.get(index)
            prior = leases.get(item["lease_id"]["S"]) if item and "holder" in item else None
            if prior is not None and float(prior["expires"]["N"]) > now:
                continue  # held by a live node
            slot = self._take(rollout, index, item, prior, lease)
            if slot is not None:
                return slot
        return None

    def _take(self, rollout: str, index: int, item: Item | None, prior: Item | None,
              lease: Lease) -> Slot | None:
        """One conditional grant of slot ``index``; ``None`` if someone else won it."""
        old = int(item["token"]["N"]) if item else 0
        slot = Slot(rollout, index, lease.node, old + 1, lease.id)
        now = time.time()
        seq = time.time_ns()
        ops: list[dict[str, Any]] = [
            {"ConditionCheck": {"Key": {"pk": _s("lease"), "sk": _s(lease.id)},
                                "ConditionExpression": "expires > :now",
                                "ExpressionAttributeValues": {":now": _n(now)}}},
            {"Put": {"Item": {"pk": _s(f"slot#{rollout}"), "sk": _s(f"{index:05d}"),
                              "holder": _s(lease.node), "lease_id": _s(lease.id),
                              "token": _n(slot.token)},
                     "ConditionExpression": ("attribute_not_exists(pk)" if item is None
                                             else "#t = :old"),
                     **({} if item is None else {
                         "ExpressionAttributeNames": {"#t": "token"},
                         "ExpressionAttributeValues": {":old": _n(old)}})}},
            self._event_put(rollout, SlotEvent(seq, "acquire", index, lease.node, slot.token,
                                               now))]
        if item is not None and "holder" in item:
            ops.extend(self._expiry_ops(rollout, index, item, prior, now))
        problems = self._transact(ops)
        if problems is None:
            return slot
        if problems[0] not in ("None", ""):
            raise LeaseLost(f"lease of node '{lease.node}' expired in dynamodb table {self.table}")
        return None

    def _expiry_ops(self, rollout: str, index: int, item: Item, prior: Item | None,
                    now: float) -> list[dict[str, Any]]:
        """Prove the previous holder's lease ran out, and record the end of its slot."""
        lease_id = item["lease_id"]["S"]
        ends = float(prior["expires"]["N"]) if prior is not None else now
        event = SlotEvent(int(ends * 1e9), "expire", index, item["holder"]["S"],
                          int(item["token"]["N"]), ends)
        return [{"ConditionCheck": {
                    "Key": {"pk": _s("lease"), "sk": _s(lease_id)},
                    "ConditionExpression": "attribute_not_exists(pk) OR expires <= :now",
                    "ExpressionAttributeValues": {":now": _n(now)}}},
                self._event_put(rollout, event)]

    def _event_put(self, rollout: str, ev: SlotEvent) -> dict[str, Any]:
        return {"Put": {"Item": {
            "pk": _s(f"hist#{rollout}"), "sk": _s(f"{ev.seq:020d}.{ev.index}.{ev.token}.{ev.kind}"),
            "kind": _s(ev.kind), "index": _n(ev.index), "node": _s(ev.node),
            "token": _n(ev.token), "at": _n(ev.at or 0.0), "seq": _n(ev.seq)}}}

    def release(self, slot: Slot) -> None:
        now = time.time()
        self._transact([
            {"Update": {"Key": {"pk": _s(f"slot#{slot.rollout}"), "sk": _s(f"{slot.index:05d}")},
                        "UpdateExpression": "REMOVE holder, lease_id",
                        "ConditionExpression": "#t = :t AND attribute_exists(holder)",
                        "ExpressionAttributeNames": {"#t": "token"},
                        "ExpressionAttributeValues": {":t": _n(slot.token)}}},
            self._event_put(slot.rollout, SlotEvent(time.time_ns(), "release", slot.index,
                                                    slot.node, slot.token, now))])

    # reports, halts, history ----------------------------------------------------

    def report(self, rollout: str, report: Report, *, slot: Slot | None = None) -> None:
        put = {"Put": {"Item": {"pk": _s(f"report#{rollout}"), "sk": _s(report.node),
                                "phase": _s(report.phase), "message": _s(report.message),
                                "token": _n(report.token)}}}
        if slot is None:
            self._call("put_item", Item=put["Put"]["Item"])
            return
        fence = [
            {"ConditionCheck": {
                "Key": {"pk": _s(f"slot#{rollout}"), "sk": _s(f"{slot.index:05d}")},
                "ConditionExpression": "#t = :t AND lease_id = :l",
                "ExpressionAttributeNames": {"#t": "token"},
                "ExpressionAttributeValues": {":t": _n(slot.token), ":l": _s(slot.lease_id)}}},
            {"ConditionCheck": {"Key": {"pk": _s("lease"), "sk": _s(slot.lease_id)},
                                "ConditionExpression": "expires > :now",
                                "ExpressionAttributeValues": {":now": _n(time.time())}}}]
        if self._transact([*fence, put]) is not None:
            raise SlotLost(f"slot {slot.index} of rollout {rollout[:12]} is no longer held by "
                           f"'{report.node}' (token {slot.token})")

    def reports(self, rollout: str) -> Mapping[str, Report]:
        return {i["sk"]["S"]: Report(i["sk"]["S"], i["phase"]["S"], i["message"]["S"],
                                     int(i["token"]["N"]))
                for i in self._query(f"report#{rollout}")}

    def halt(self, halt: Halt) -> Halt:
        self._put_new("halt", halt.rollout, {"reason": _s(halt.reason), "by": _s(halt.by)})
        return self.halted(halt.rollout) or halt

    def halted(self, rollout: str) -> Halt | None:
        item = self._get("halt", rollout)
        return None if item is None else Halt(rollout, item["reason"]["S"], item["by"]["S"])

    def resume(self, rollout: str) -> bool:
        out = self._call("delete_item", Key={"pk": _s("halt"), "sk": _s(rollout)},
                         ReturnValues="ALL_OLD")
        for node, rep in self.reports(rollout).items():
            if rep.phase in ("failed", "rolled_back"):
                try:
                    self._db.delete_item(
                        TableName=self.table, Key={"pk": _s(f"report#{rollout}"), "sk": _s(node)},
                        ConditionExpression="phase = :p",
                        ExpressionAttributeValues={":p": _s(rep.phase)})
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise self._error("resume", exc) from exc
        return "Attributes" in out

    def history(self, rollout: str) -> list[SlotEvent]:
        """The recorded events, plus the end of every slot whose holder's lease ran out
        and that nobody took since (at the lease's expiry)."""
        events = [SlotEvent(int(i["seq"]["N"]), i["kind"]["S"], int(i["index"]["N"]),
                            i["node"]["S"], int(i["token"]["N"]), float(i["at"]["N"]))
                  for i in self._query(f"hist#{rollout}")]
        leases = {i["sk"]["S"]: i for i in self._query("lease")}
        now = time.time()
        for item, alive in self._held(rollout):
            if alive:
                continue
            prior = leases.get(item["lease_id"]["S"])
            ends = float(prior["expires"]["N"]) if prior is not None else now
            events.append(SlotEvent(int(ends * 1e9), "expire", int(item["sk"]["S"]),
                                    item["holder"]["S"], int(item["token"]["N"]), ends))
        return sorted(events, key=lambda e: e.seq)

    def close(self) -> None:
        return None


def _slot(rollout: str, item: Item) -> Slot:
    return Slot(rollout, int(item["sk"]["S"]), item["holder"]["S"], int(item["token"]["N"]),
                item["lease_id"]["S"])


def _record(item: Item) -> RolloutRecord:
    value: dict[str, Any] = json.loads(item["record"]["S"])
    return record_from_json(value)

