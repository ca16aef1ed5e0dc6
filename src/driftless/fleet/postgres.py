"""PostgreSQL coordinator: a lease table, transaction-scoped advisory locks, fencing tokens.

I/O: one psycopg connection (autocommit; explicit transactions), tables in
the given schema (created on first use)::

    fleet_leases(id, node, ttl, expires)          a lease is live while expires > now()
    fleet_members(node, lease_id, tags, ...)      live while its lease is
    fleet_rollouts(rollout, record)               created once (ON CONFLICT DO NOTHING)
    fleet_slots(rollout, idx, node, lease_id, token)
    fleet_reports(rollout, node, phase, message, token)
    fleet_halts(rollout, reason, by_node)
    fleet_history(seq, rollout, kind, idx, node, token, at)

Every grant and release of a rollout's slots runs under
``pg_advisory_xact_lock`` on that rollout, so they are serialised and the
history's sequence follows their commit order. Expiry is judged by the
server's clock (``now()``), one clock for every node. A slot's token grows
by one with each grant; a fenced report locks the slot row and checks the
token and the holder's lease in the same transaction.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg
from psycopg import sql

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

__all__ = ["PostgresCoordinator"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {s}.fleet_leases (id bigserial PRIMARY KEY, node text NOT NULL,
  ttl double precision NOT NULL, expires timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.fleet_members (node text PRIMARY KEY, lease_id bigint NOT NULL,
  tags jsonb NOT NULL, revision text NOT NULL, address text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.fleet_rollouts (rollout text PRIMARY KEY, record jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.fleet_slots (rollout text, idx int, node text, lease_id bigint,
  token bigint NOT NULL, PRIMARY KEY (rollout, idx));
CREATE TABLE IF NOT EXISTS {s}.fleet_reports (rollout text, node text, phase text NOT NULL,
  message text NOT NULL, token bigint NOT NULL, PRIMARY KEY (rollout, node));
CREATE TABLE IF NOT EXISTS {s}.fleet_halts (rollout text PRIMARY KEY, reason text NOT NULL,
  by_node text NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.fleet_history (seq bigserial PRIMARY KEY, rollout text NOT NULL,
  kind text NOT NULL, idx int NOT NULL, node text NOT NULL, token bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp());
"""


class PostgresCoordinator:
    """The fleet store in PostgreSQL (``postgres://user@host:port/db?schema=name``)."""

    name = "postgres"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.schema = query.get("schema", ["driftless_fleet"])[0]
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
        self.where = f"{parts.hostname}:{parts.port}{parts.path}?schema={self.schema}"
        try:
            self._db = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise CoordinatorError(f"postgres {self.where}: cannot connect ({exc})") from exc
        self._mutex = threading.Lock()
        s = sql.Identifier(self.schema)
        with self._mutex:
            self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
            self._db.execute(sql.SQL(_SCHEMA).format(s=s))

    # plumbing ---------------------------------------------------------------

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))

    def _all(self, text: str, *args: Any) -> list[tuple[Any, ...]]:
        try:
            with self._mutex:
                return self._db.execute(self._q(text), args).fetchall()
        except psycopg.Error as exc:
            raise CoordinatorError(f"postgres {self.where}: {exc}") from exc

    def _run(self, text: str, *args: Any) -> int:
        try:
            with self._mutex:
                return self._db.execute(self._q(text), args).rowcount
        except psycopg.Error as exc:
            raise CoordinatorError(f"postgres {self.where}: {exc}") from exc

    # leases and membership -----------------------------------------------------

    def grant(self, node: str, *, ttl: float) -> Lease:
        rows = self._all("INSERT INTO {s}.fleet_leases (node, ttl, expires) "
                         "VALUES (%s, %s, now() + make_interval(secs => %s)) RETURNING id",
                         node, ttl, ttl)
        return Lease(str(rows[0][0]), node, ttl)

    def keepalive(self, lease: Lease) -> None:
        changed = self._run("UPDATE {s}.fleet_leases SET expires = now() + "
                            "make_interval(secs => ttl) WHERE id = %s AND expires > now()",
                            int(lease.id))
        if not changed:
            raise LeaseLost(f"lease of node '{lease.node}' expired in postgres {self.where}")

    def revoke(self, lease: Lease) -> None:
        self._run("UPDATE {s}.fleet_leases SET expires = now() WHERE id = %s", int(lease.id))

    def join(self, lease: Lease, member: Member) -> None:
        changed = self._run(
            "INSERT INTO {s}.fleet_members (node, lease_id, tags, revision, address) "
            "SELECT %s, id, %s, %s, %s FROM {s}.fleet_leases WHERE id = %s AND expires > now() "
            "ON CONFLICT (node) DO UPDATE SET lease_id = EXCLUDED.lease_id, "
            "tags = EXCLUDED.tags, revision = EXCLUDED.revision, address = EXCLUDED.address",
            member.node, json.dumps(dict(member.tags)), member.revision, member.address,
            int(lease.id))
        if not changed:
            raise LeaseLost(f"lease of node '{lease.node}' expired in postgres {self.where}")

    def members(self) -> list[Member]:
        rows = self._all("SELECT m.node, m.tags, m.revision, m.address FROM {s}.fleet_members m "
                         "JOIN {s}.fleet_leases l ON l.id = m.lease_id "
                         "WHERE l.expires > now() ORDER BY m.node")
        return [Member(r[0], dict(r[1]), r[2], r[3]) for r in rows]

    # rollouts ------------------------------------------------------------------

    def open_rollout(self, record: RolloutRecord) -> RolloutRecord:
        self._run("INSERT INTO {s}.fleet_rollouts VALUES (%s, %s) ON CONFLICT DO NOTHING",
                  record.rollout, json.dumps(record_to_json(record)))
        stored = self.rollout(record.rollout)
        assert stored is not None
        return stored

    def rollout(self, rollout: str) -> RolloutRecord | None:
        rows = self._all("SELECT record FROM {s}.fleet_rollouts WHERE rollout = %s", rollout)
        return record_from_json(rows[0][0]) if rows else None

    def rollouts(self) -> list[RolloutRecord]:
        return [record_from_json(r[0]) for r in
                self._all("SELECT record FROM {s}.fleet_rollouts ORDER BY rollout")]

    # slots -------------------------------------------------------------------

    _LIVE = ("SELECT s.idx, s.node, s.token, s.lease_id FROM {s}.fleet_slots s "
             "JOIN {s}.fleet_leases l ON l.id = s.lease_id "
             "WHERE s.rollout = %s AND l.expires > now() ORDER BY s.idx")

    def slots(self, rollout: str) -> list[Slot]:
        return [Slot(rollout, r[0], r[1], r[2], str(r[3])) for r in self._all(self._LIVE, rollout)]

    def acquire(self, rollout: str, lease: Lease) -> Slot | None:
        try:
            with self._mutex, self._db.transaction():
                return self._acquire(self._db, rollout, lease)
        except psycopg.Error as exc:
            raise CoordinatorError(f"postgres {self.where}: {exc}") from exc

    def _acquire(self, db: psycopg.Connection[Any], rollout: str, lease: Lease) -> Slot | None:
        q = self._q
        db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}/{rollout}",))
        if db.execute(q("SELECT 1 FROM {s}.fleet_leases WHERE id = %s AND expires > now()"),
                      (int(lease.id),)).fetchone() is None:
            raise LeaseLost(f"lease of node '{lease.node}' expired in postgres {self.where}")
        row = db.execute(q("SELECT record FROM {s}.fleet_rollouts WHERE rollout = %s"),
                         (rollout,)).fetchone()
        if row is None:
            raise CoordinatorError(f"no rollout {rollout!r} in postgres {self.where}")
        record = record_from_json(row[0])
        rows = db.execute(q(
            "SELECT s.idx, s.node, s.token, s.lease_id, l.expires > now(), l.expires "
            "FROM {s}.fleet_slots s LEFT JOIN {s}.fleet_leases l ON l.id = s.lease_id "
            "WHERE s.rollout = %s"), (rollout,)).fetchall()
        by_index = {r[0]: r for r in rows}
        for r in rows:
            if r[3] is not None and str(r[3]) == lease.id and r[4]:
                return Slot(rollout, r[0], r[1], r[2], lease.id)
        for index in range(record.slots):
            r = by_index.get(index)
            if r is not None and r[3] is not None and r[4]:
                continue
            if r is not None and r[3] is not None:  # its holder's lease ran out
                db.execute(q("INSERT INTO {s}.fleet_history (rollout, kind, idx, node, token, at) "
                             "VALUES (%s, 'expire', %s, %s, %s, coalesce(%s, now()))"),
                           (rollout, index, r[1], r[2], r[5]))
            token = (r[2] if r is not None else 0) + 1
            db.execute(q("INSERT INTO {s}.fleet_slots VALUES (%s, %s, %s, %s, %s) "
                         "ON CONFLICT (rollout, idx) DO UPDATE SET node = EXCLUDED.node, "
                         "lease_id = EXCLUDED.lease_id, token = EXCLUDED.token"),
                       (rollout, index, lease.node, int(lease.id), token))
            db.execute(q("INSERT INTO {s}.fleet_history (rollout, kind, idx, node, token) "
                         "VALUES (%s, 'acquire', %s, %s, %s)"),
                       (rollout, index, lease.node, token))
            return Slot(rollout, index, lease.node, token, lease.id)
        return None

    def release(self, slot: Slot) -> None:
        try:
            with self._mutex, self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                                 (f"{self.schema}/{slot.rollout}",))
                cur = self._db.execute(self._q(
                    "UPDATE {s}.fleet_slots SET lease_id = NULL WHERE rollout = %s AND idx = %s "
                    "AND token = %s AND lease_id IS NOT NULL"),
                    (slot.rollout, slot.index, slot.token))
                if cur.rowcount:
                    self._db.execute(self._q(
                        "INSERT INTO {s}.fleet_history (rollout, kind, idx, node, token) "
                        "VALUES (%s, 'release', %s, %s, %s)"),
                        (slot.rollout, slot.index, slot.node, slot.token))
        except psycopg.Error as exc:
            raise CoordinatorError(f"postgres {self.where}: {exc}") from exc

    # reports, halts, history ----------------------------------------------------

    _REPORT = ("INSERT INTO {s}.fleet_reports VALUES (%s, %s, %s, %s, %s) "
               "ON CONFLICT (rollout, node) DO UPDATE SET phase = EXCLUDED.phase, "
               "message = EXCLUDED.message, token = EXCLUDED.token")

    def report(self, rollout: str, report: Report, *, slot: Slot | None = None) -> None:
        args = (rollout, report.node, report.phase, report.message, report.token)
        if slot is None:
            self._run(self._REPORT, *args)
            return
        try:
            with self._mutex, self._db.transaction():
                held = self._db.execute(self._q(
                    "SELECT 1 FROM {s}.fleet_slots s JOIN {s}.fleet_leases l "
                    "ON l.id = s.lease_id WHERE s.rollout = %s AND s.idx = %s AND s.token = %s "
                    "AND l.expires > now() FOR UPDATE OF s"),
                    (rollout, slot.index, slot.token)).fetchone()
                if held is None:
                    raise SlotLost(f"slot {slot.index} of rollout {rollout[:12]} is no longer "
                                   f"held by '{report.node}' (token {slot.token})")
                self._db.execute(self._q(self._REPORT), args)
        except psycopg.Error as exc:
            raise CoordinatorError(f"postgres {self.where}: {exc}") from exc

    def reports(self, rollout: str) -> Mapping[str, Report]:
        rows = self._all("SELECT node, phase, message, token FROM {s}.fleet_reports "
                         "WHERE rollout = %s", rollout)
        return {r[0]: Report(r[0], r[1], r[2], r[3]) for r in rows}

    def halt(self, halt: Halt) -> Halt:
        self._run("INSERT INTO {s}.fleet_halts VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                  halt.rollout, halt.reason, halt.by)
        return self.halted(halt.rollout) or halt

    def halted(self, rollout: str) -> Halt | None:
        rows = self._all("SELECT reason, by_node FROM {s}.fleet_halts WHERE rollout = %s",
                         rollout)
        return Halt(rollout, rows[0][0], rows[0][1]) if rows else None

    def resume(self, rollout: str) -> bool:
        was = self._run("DELETE FROM {s}.fleet_halts WHERE rollout = %s", rollout)
        self._run("DELETE FROM {s}.fleet_reports WHERE rollout = %s "
                  "AND phase IN ('failed', 'rolled_back')", rollout)
        return bool(was)

    def history(self, rollout: str) -> list[SlotEvent]:
        """The recorded events, plus the end of every slot whose holder's lease ran out
        and that nobody took since (at the lease's expiry, after every recorded event)."""
        rows = self._all("SELECT seq, kind, idx, node, token, extract(epoch FROM at) "
                         "FROM {s}.fleet_history WHERE rollout = %s ORDER BY seq", rollout)
        events = [SlotEvent(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in rows]
        last = events[-1].seq if events else 0
        dead = self._all("SELECT s.idx, s.node, s.token, extract(epoch FROM l.expires) "
                         "FROM {s}.fleet_slots s LEFT JOIN {s}.fleet_leases l "
                         "ON l.id = s.lease_id WHERE s.rollout = %s AND s.lease_id IS NOT NULL "
                         "AND (l.id IS NULL OR l.expires <= now()) ORDER BY s.idx", rollout)
        events += [SlotEvent(last + i + 1, "expire", r[0], r[1], r[2],
                             None if r[3] is None else float(r[3])) for i, r in enumerate(dead)]
        return events

    def close(self) -> None:
        with self._mutex:
            self._db.close()
