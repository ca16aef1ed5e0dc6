"""etcd v3 coordinator, through etcd's JSON gateway (``/v3/...``) with httpx.

I/O: HTTP to one etcd endpoint. Keys under ``prefix`` (default
``/driftless/fleet``)::

    members/<node>           JSON member, bound to the node's lease
    rollouts/<rollout>       JSON rollout record (created once, by a txn on version 0)
    slots/<rollout>/<i>      JSON holder, bound to the holder's lease
    reports/<rollout>/<node> JSON report
    halts/<rollout>          JSON halt record (created once)

A slot is taken by a transaction that succeeds only while the slot key does
not exist (``create_revision == 0``), so at most ``slots`` keys exist per
rollout at any revision. The fencing token is the key's create revision:
etcd's revisions grow with every write, so a later grant always has a
larger token. A fenced report is a transaction comparing the slot key's
create revision with the token. Slots die with the holder's lease.

History comes from etcd itself: a watch from revision 1 over the rollout's
slot keys replays every grant and every delete (release or lease expiry) in
revision order, until etcd compacts those revisions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

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

__all__ = ["EtcdCoordinator"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode()


def _prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with ``prefix``."""
    raw = prefix.encode()
    return base64.b64encode(raw[:-1] + bytes([raw[-1] + 1])).decode()


def checked_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise CoordinatorError(f"fleet {what} {value!r} must be letters, digits, '._:-' "
                               "(at most 128, starting with a letter or digit)")
    return value


class EtcdCoordinator:
    """The fleet store on etcd v3 (``etcd://host:port/prefix``)."""

    name = "etcd"

    def __init__(self, endpoint: str, *, prefix: str = "/driftless/fleet",
                 timeout: float = 5.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.prefix = prefix.rstrip("/")
        self._http = httpx.Client(base_url=self.endpoint + "/v3", timeout=timeout)

    # plumbing ---------------------------------------------------------------

    def _call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            resp = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise CoordinatorError(f"etcd {self.endpoint}{path}: {exc}",
                                   hint="is etcd running and reachable?") from exc
        data: dict[str, Any] = resp.json() if resp.content else {}
        if resp.status_code != 200:
            message = str(data.get("message") or data.get("error") or resp.text)
            if "lease not found" in message:
                raise LeaseLost(f"etcd {self.endpoint}: {message}")
            raise CoordinatorError(f"etcd {self.endpoint}{path}: {resp.status_code} {message}")
        return data

    def _key(self, *parts: str) -> str:
        return "/".join((self.prefix, *parts))

    def _range(self, prefix: str) -> list[dict[str, Any]]:
        kvs: list[dict[str, Any]] = self._call(
            "/kv/range", {"key": _b64(prefix), "range_end": _prefix_end(prefix)}).get("kvs", [])
        return kvs

    def _get(self, key: str) -> dict[str, Any] | None:
        kvs = self._call("/kv/range", {"key": _b64(key)}).get("kvs", [])
        return kvs[0] if kvs else None

    def _create(self, key: str, value: Mapping[str, Any], *, lease: str = "0") -> bool:
        """Put ``key`` only if it does not exist; whether this call created it."""
        put: dict[str, Any] = {"key": _b64(key), "value": _b64(json.dumps(value))}
        if lease != "0":
            put["lease"] = lease
        out = self._call("/kv/txn", {
            "compare": [{"key": _b64(key), "target": "CREATE", "result": "EQUAL",
                         "create_revision": "0"}],
            "success": [{"requestPut": put}]})
        return bool(out.get("succeeded"))

    @staticmethod
    def _value(kv: Mapping[str, Any]) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(_unb64(kv.get("value", "")) or "{}")
        return value

    # leases and membership -----------------------------------------------------

    def grant(self, node: str, *, ttl: float) -> Lease:
        out = self._call("/lease/grant", {"TTL": max(1, round(ttl))})
        return Lease(str(out["ID"]), checked_name(node, "node"), float(out["TTL"]))

    def keepalive(self, lease: Lease) -> None:
        out = self._call("/lease/keepalive", {"ID": lease.id}).get("result", {})
        if int(out.get("TTL", 0)) <= 0:
            raise LeaseLost(f"lease of node '{lease.node}' expired in etcd {self.endpoint}")

    def revoke(self, lease: Lease) -> None:
        with contextlib.suppress(LeaseLost):
            self._call("/lease/revoke", {"ID": lease.id})

    def join(self, lease: Lease, member: Member) -> None:
        key = self._key("members", checked_name(member.node, "node"))
        value = {"node": member.node, "tags": dict(member.tags), "revision": member.revision,
                 "address": member.address}
        self._call("/kv/put", {"key": _b64(key), "value": _b64(json.dumps(value)),
                               "lease": lease.id})

    def members(self) -> list[Member]:
        found = [self._value(kv) for kv in self._range(self._key("members", ""))]
        return sorted((Member(v["node"], v.get("tags", {}), v.get("revision", ""),
                              v.get("address", "")) for v in found), key=lambda m: m.node)

    # rollouts ------------------------------------------------------------------

    def open_rollout(self, record: RolloutRecord) -> RolloutRecord:
        key = self._key("rollouts", checked_name(record.rollout, "rollout"))
        self._create(key, record_to_json(record))
        stored = self.rollout(record.rollout)
        assert stored is not None
        return stored

    def rollout(self, rollout: str) -> RolloutRecord | None:
        kv = self._get(self._key("rollouts", rollout))
        return None if kv is None else record_from_json(self._value(kv))

    def rollouts(self) -> list[RolloutRecord]:
        return [record_from_json(self._value(kv)) for kv in self._range(self._key("rollouts", ""))]

    # slots -------------------------------------------------------------------

    def _slot(self, rollout: str, kv: Mapping[str, Any]) -> Slot:
        value = self._value(kv)
        index = int(_unb64(kv["key"]).rsplit("/", 1)[1])
        return Slot(rollout, index, value["node"], int(kv["create_revision"]),
                    str(kv.get("lease", "0")))

    def slots(self, rollout: str) -> list[Slot]:
        kvs = self._range(self._key("slots", rollout, ""))
        return sorted((self._slot(rollout, kv) for kv in kvs if not _sentinel(kv)),
                      key=lambda s: s.index)

    def acquire(self, rollout: str, lease: Lease) -> Slot | None:
        record = self.rollout(rollout)
        if record is None:
            raise CoordinatorError(f"no rollout {rollout!r} in etcd {self.endpoint}")
        held = self.slots(rollout)
        for slot in held:
            if slot.lease_id == lease.id:
                return slot
        busy = {s.index for s in held}
        for index in range(record.slots):
            if index in busy:
                continue
            key = self._key("slots", rollout, f"{index:05d}")
            if self._create(key, {"node": lease.node}, lease=lease.id):
                kv = self._get(key)
                if kv is not None and str(kv.get("lease")) == lease.id:
                    return self._slot(rollout, kv)
        return None

    def release(self, slot: Slot) -> None:
        key = _b64(self._key("slots", slot.rollout, f"{slot.index:05d}"))
        self._call("/kv/txn", {
            "compare": [{"key": key, "target": "CREATE", "result": "EQUAL",
                         "create_revision": str(slot.token)}],
            "success": [{"requestDeleteRange": {"key": key}}]})

    # reports, halts, history ----------------------------------------------------

    def report(self, rollout: str, report: Report, *, slot: Slot | None = None) -> None:
        key = _b64(self._key("reports", rollout, checked_name(report.node, "node")))
        value = _b64(json.dumps({"node": report.node, "phase": report.phase,
                                 "message": report.message, "token": report.token}))
        compare = []
        if slot is not None:
            compare = [{"key": _b64(self._key("slots", rollout, f"{slot.index:05d}")),
                        "target": "CREATE", "result": "EQUAL",
                        "create_revision": str(slot.token)}]
        out = self._call("/kv/txn", {"compare": compare,
                                     "success": [{"requestPut": {"key": key, "value": value}}]})
        if not out.get("succeeded"):
            raise SlotLost(f"slot {slot.index if slot else '?'} of rollout {rollout[:12]} is "
                           f"no longer held by '{report.node}' (token {report.token})")

    def reports(self, rollout: str) -> Mapping[str, Report]:
        found = [self._value(kv) for kv in self._range(self._key("reports", rollout, ""))]
        return {v["node"]: Report(v["node"], v["phase"], v.get("message", ""),
                                  int(v.get("token", 0))) for v in found}

    def halt(self, halt: Halt) -> Halt:
        key = self._key("halts", halt.rollout)
        self._create(key, {"rollout": halt.rollout, "reason": halt.reason, "by": halt.by})
        stored = self.halted(halt.rollout)
        return stored if stored is not None else halt

    def halted(self, rollout: str) -> Halt | None:
        kv = self._get(self._key("halts", rollout))
        if kv is None:
            return None
        v = self._value(kv)
        return Halt(v["rollout"], v["reason"], v["by"])

    def resume(self, rollout: str) -> bool:
        out = self._call("/kv/deleterange", {"key": _b64(self._key("halts", rollout))})
        for kv in self._range(self._key("reports", rollout, "")):
            if self._value(kv).get("phase") in ("failed", "rolled_back"):
                self._call("/kv/txn", {
                    "compare": [{"key": kv["key"], "target": "MOD", "result": "EQUAL",
                                 "mod_revision": kv["mod_revision"]}],
                    "success": [{"requestDeleteRange": {"key": kv["key"]}}]})
        return int(out.get("deleted", 0)) > 0

    def history(self, rollout: str) -> list[SlotEvent]:
        """Replay the slot keys' revisions with a watch from revision 1, up to a sentinel
        key written now (so the replay knows where the present is)."""
        prefix = self._key("slots", rollout, "")
        sentinel = prefix + "~audit"
        put = self._call("/kv/put", {"key": _b64(sentinel), "value": _b64("{}")})
        until = int(put["header"]["revision"])
        self._call("/kv/deleterange", {"key": _b64(sentinel)})
        return self._replay(rollout, prefix, until)

    def _replay(self, rollout: str, prefix: str, until: int) -> list[SlotEvent]:
        body = {"create_request": {"key": _b64(prefix), "range_end": _prefix_end(prefix),
                                   "start_revision": "1", "prev_kv": True}}
        events: list[SlotEvent] = []
        try:
            with self._http.stream("POST", "/watch", json=body, timeout=30) as stream:
                for line in stream.iter_lines():
                    result = json.loads(line).get("result", {})
                    if result.get("compact_revision"):
                        raise CoordinatorError(f"etcd {self.endpoint} compacted the history "
                                               f"of rollout {rollout[:12]}")
                    for ev in result.get("events", []):
                        rev = int(ev["kv"]["mod_revision"])
                        if rev >= until:
                            return events
                        events.extend(self._event(rollout, ev))
        except httpx.HTTPError as exc:
            raise CoordinatorError(f"etcd {self.endpoint}/watch: {exc}") from exc
        return events

    def _event(self, rollout: str, ev: Mapping[str, Any]) -> list[SlotEvent]:
        kv = ev["kv"]
        if _sentinel(kv):
            return []
        rev = int(kv["mod_revision"])
        if ev.get("type") == "DELETE":
            prev = ev.get("prev_kv")
            if prev is None:
                return []
            slot = self._slot(rollout, prev)
            return [SlotEvent(rev, "end", slot.index, slot.node, slot.token)]
        if kv.get("create_revision") != kv.get("mod_revision"):
            return []
        slot = self._slot(rollout, kv)
        return [SlotEvent(rev, "acquire", slot.index, slot.node, slot.token)]

    def close(self) -> None:
        self._http.close()


def _sentinel(kv: Mapping[str, Any]) -> bool:
    return _unb64(kv["key"]).endswith("~audit")
