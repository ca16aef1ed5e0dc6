"""The PostgreSQL state backend: shared state in the tables of one schema.

URL: ``postgres://user[:password]@host[:port]/db?schema=driftless`` (or
``postgresql://``). ``schema`` (default ``driftless``) is ours; every other
query option (``sslmode``, ``connect_timeout`` …) goes to libpq unchanged,
and so do ``PGPASSWORD`` and ``~/.pgpass``. A password is never printed:
messages and ``repr`` name the URL with it replaced by ``***``.

Tables, made on the first lock or write in one transaction under an
advisory lock (reads of a schema that does not exist yet see empty state and
create nothing): ``stacks`` (lineage, serial, outputs), ``resources`` (one
row per resource, so a write upserts only the rows whose JSON changed and
deletes dropped ones, as SQLite does), ``journal``, ``leases``, ``meta``
(the table layout's version), and ``snapshots`` and ``snapshot_rows`` (the
last ``HISTORY`` serials of each stack and the rows they replaced, for
``state history``/``state restore``; added to a version 1 schema at its first
write). JSON is stored as text, not jsonb: jsonb
refuses ``\\u0000`` and reorders keys, and unchanged rows are found by
comparing canonical text.

Leases carry a fencing token. ``lock`` runs in a transaction holding
``pg_advisory_xact_lock(hashtext(schema), hashtext(stack))``, so two takers
serialise, and stores a fresh uuid token in the stack's lease row: a new row,
or an expired one taken over by an UPDATE conditional on the old token
(compare-and-set in one statement). Expiry is the server's clock, which every
client shares; the first term is the lease, cut short to what the ``LockInfo``
has left, so a lock handed in already expired is stored expired. ``renew``
and ``unlock`` act only while lock id and token still match; ``force``
deletes any holder (the caller records that).

Fencing, and where the token lives: the protocol's ``write`` and journal
calls carry no lock id, so this backend instance remembers the token it took
per stack. Every snapshot write and journal write reads the lease row
``FOR SHARE`` in its own transaction and refuses with ``StateError`` ("lock
lost: …") unless the row still holds that token; the row lock keeps a
takeover or force unlock from committing until the write has, so no write
lands after its lease passed on. A client that took no lock on a stack may
still write it (one-off tools, the conformance suite) unless someone else
holds a live lease on it. The journal lives in ``postgres_journal``.

I/O: network only. One connection per thread (the engine journals from a
thread pool, the lease renewer runs in its own thread), in autocommit mode
with explicit transactions; every psycopg failure becomes a ``StateError``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from driftless.errors import LockHeld, StateError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.records import record
from driftless.state.base import SnapshotInfo
from driftless.state.packed import pack_batches, unpack, unpack_batch
from driftless.state.postgres_journal import (
    DDL,
    HISTORY_DDL,
    SCHEMA_VERSION,
    PgLocation,
    PostgresJournal,
    check_base,
    failure,
    not_ours,
    parse_url,
)
from driftless.state.rows import KnownRows, Rows, shared_states
from driftless.state.sqlite_journal import dumps, encode

__all__ = ["PgLocation", "PostgresBackend", "PostgresJournal", "from_url", "parse_url"]

LOCK_TIMEOUT = "30s"
_TABLES = ("stacks", "resources", "leases", "journal", "meta")
_HISTORY_TABLES = ("snapshots", "snapshot_rows")
HISTORY = 10  # serials kept per stack for state history / state restore
_HOLDER = ("SELECT lock_id, token, info, extract(epoch FROM expires_at), "
           "expires_at <= clock_timestamp() FROM leases WHERE stack = %s")


@record
class _Held:
    """A lease this client took: the caller's lock id and our fencing token."""

    lock_id: str
    token: str


def from_url(url: str, root: Path) -> PostgresBackend:
    """The backend for a ``postgres://`` URL (``root`` is unused: nothing is local)."""
    del root
    return PostgresBackend(parse_url(url))


def _holder(row: Any) -> LockInfo:
    """The ``LockInfo`` of a lease row, its expiry from the server's clock."""
    doc = json.loads(row[2])
    return LockInfo.from_json({**doc, "id": row[0], "expires": float(row[3])})


class PostgresBackend:
    """``StateBackend`` over one schema of a PostgreSQL database."""

    def __init__(self, loc: PgLocation) -> None:
        self.loc = loc
        self._local = threading.local()
        self._opened: list[psycopg.Connection[Any]] = []
        self._guard = threading.Lock()
        self._known: dict[str, KnownRows] = {}
        self._held: dict[str, _Held] = {}
        # stack -> journal seqs this client began under that lease (see ``fence``).
        self._begun: dict[str, set[int]] = {}
        # stack -> "who: operation" of the lease we took, recorded with each serial.
        self._writers: dict[str, str] = {}
        self._ready = False
        self._history_ready = False

    def __repr__(self) -> str:
        return f"PostgresBackend({self.loc.shown})"

    # -- connections and transactions -----------------------------------------

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            self._local.conn = conn
            with self._guard:
                self._opened.append(conn)
        return conn

    def _connect(self) -> psycopg.Connection[Any]:
        with self._errors():
            conn = psycopg.connect(self.loc.conninfo, autocommit=True, **self.loc.defaults)
            try:
                conn.execute(sql.SQL("SET search_path TO {}").format(
                    sql.Identifier(self.loc.schema)))
                # A stuck transaction elsewhere must not hang us forever.
                conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            except BaseException:
                conn.close()
                raise
            return conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn psycopg failures into a ``StateError`` naming the URL (no password)."""
        try:
            yield
        except psycopg.Error as exc:
            raise failure(self.loc, exc) from None

    @contextmanager
    def _txn(self, *, snapshot: bool = False) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction; ``snapshot`` makes its reads agree (REPEATABLE READ)."""
        conn = self._conn()
        with self._errors(), conn.transaction(), conn.cursor() as cur:
            if snapshot:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield cur

    def _exists(self) -> bool:
        """Whether our tables are there (checking their version once they are)."""
        if self._ready:
            return True
        with self._txn() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s "
                        "AND tablename = ANY(%s)", (self.loc.schema, list(_TABLES)))
            row = cur.fetchone()
            if row is None or row[0] != len(_TABLES):
                return False
            self._check_version(cur)
        self._ready = True
        return True

    def _check_version(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute("SELECT value FROM meta WHERE key = 'schema_version'")
        row = cur.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StateError(
                f"schema '{self.loc.schema}' at {self.loc.shown} holds driftless tables of "
                f"version {version}; this driftless knows up to {SCHEMA_VERSION}",
                hint="upgrade driftless to use this state")

    def ensure_schema(self) -> bool:
        """Create the schema and tables if missing; True when this call made them.

        Two first users may race: the advisory lock makes the second wait and
        then find everything in place (CREATE … IF NOT EXISTS alone can still
        fail on a concurrent create).
        """
        if self._exists():
            return False
        with self._txn() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        (f"driftless schema {self.loc.schema}",))
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(self.loc.schema)))
            for statement in (*DDL, *HISTORY_DDL):
                cur.execute(statement)
            cur.execute("INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO NOTHING", (str(SCHEMA_VERSION),))
            self._check_version(cur)
        self._ready = True
        return True

    def _ensure_history(self) -> None:
        """Add the history tables to a schema made by an older driftless (version 1),
        once per client, and mark the schema version 2 (older clients then refuse it
        rather than write serials without keeping what they replace)."""
        if self._history_ready:
            return
        with self._txn() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s "
                        "AND tablename = ANY(%s)", (self.loc.schema, list(_HISTORY_TABLES)))
            row = cur.fetchone()
            if row is None or row[0] != len(_HISTORY_TABLES):
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                            (f"driftless schema {self.loc.schema}",))
                for statement in HISTORY_DDL:
                    cur.execute(statement)
                cur.execute("UPDATE meta SET value = %s WHERE key = 'schema_version' "
                            "AND value::int < %s", (str(SCHEMA_VERSION), SCHEMA_VERSION))
        self._history_ready = True

    def _history_exists(self) -> bool:
        if self._history_ready:
            return True
        if not self._exists():
            return False
        with self._txn() as cur:
            cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s "
                        "AND tablename = ANY(%s)", (self.loc.schema, list(_HISTORY_TABLES)))
            row = cur.fetchone()
        return row is not None and row[0] == len(_HISTORY_TABLES)

    def close(self) -> None:
        """Close every thread's connection."""
        with self._guard:
            opened, self._opened = self._opened, []
            self._known.clear()
        for conn in opened:
            conn.close()
        self._local = threading.local()

    # -- fencing ---------------------------------------------------------------

    def _serialise(self, cur: psycopg.Cursor[Any], stack: str) -> None:
        """Take the stack's advisory lock until the transaction ends."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
                    (self.loc.schema, stack))

    def fence(self, cur: psycopg.Cursor[Any], stack: str, doing: str,
              *, outcomes: Iterable[int] = ()) -> bool:
        """Refuse ``doing`` unless our lease still holds (or, unlocked, nobody's does).

        ``FOR SHARE`` keeps the lease row as it is until this transaction ends.
        ``outcomes``: the journal seqs whose outcomes ``doing`` records; when this
        client began them all under its lease they pass even after the lease was
        lost (returns True: the caller must find each still unfinished), so the
        next run knows those side effects happened. The next intent is refused.
        """
        with self._guard:
            held = self._held.get(stack)
            begun = self._begun.get(stack, set())
        cur.execute(_HOLDER + " FOR SHARE", (stack,))
        row = cur.fetchone()
        own = set(outcomes)
        lost = held is not None and (row is None or row[1] != held.token)
        if lost and own and own <= begun:
            return True
        if lost:
            now = "released" if row is None else f"held by {_holder(row).describe()}"
            raise StateError(
                f"lock lost: the lease on stack '{stack}' is {now}; {doing} was refused",
                hint="another process took the stack over after our lease ran out (or it "
                     "was force-unlocked); run plan again to see its state")
        if held is None and row is not None and not row[4]:
            raise StateError(
                f"stack '{stack}' is locked by {_holder(row).describe()} and this client "
                f"holds no lock on it; {doing} was refused",
                hint="take the stack's lock before changing it, or wait for that run")
        return False

    def began(self, stack: str, seqs: Iterable[int]) -> None:
        """Remember journal seqs this client began while holding the stack's lease."""
        with self._guard:
            if stack in self._held:
                self._begun.setdefault(stack, set()).update(seqs)

    # -- snapshots -----------------------------------------------------------

    def stacks(self) -> list[str]:
        """Names of every stack with state, sorted by code point."""
        if not self._exists():
            return []
        with self._txn() as cur:
            cur.execute("SELECT name FROM stacks ORDER BY name")
            return [r[0] for r in cur.fetchall()]

    def read(self, stack: str) -> StateSnapshot:
        """The stored snapshot; a fresh, unsaved one for an unknown stack."""
        if not self._exists():
            return StateSnapshot.empty()
        with self._txn(snapshot=True) as cur:
            cur.execute("SELECT lineage, serial, outputs FROM stacks WHERE name = %s", (stack,))
            meta = cur.fetchone()
            if meta is None:
                return StateSnapshot.empty()
            same = self._unchanged(stack, meta)
            if same is not None:
                # The rows this client last read or wrote at this lineage and serial:
                # every write moves the serial (fenced, in one transaction), so they
                # are what is stored; not fetched and decoded again.
                return StateSnapshot(meta[0], int(meta[1]), same,
                                     self._decode(stack, meta[2], [])[0])
            cur.execute("SELECT doc FROM resources WHERE stack = %s", (stack,))
            texts = [r[0] for r in cur.fetchall()]
        outputs, states = self._decode(stack, meta[2], texts)
        known: Rows = {str(rs.id): (rs, text) for rs, text in zip(states, texts, strict=True)}
        resources = {rs.id: rs for rs in states}
        self._remember(stack, KnownRows(meta[0], int(meta[1]), known, resources))
        return StateSnapshot(meta[0], int(meta[1]), resources, outputs)

    def _decode(self, stack: str, outputs: str, texts: list[str]
                ) -> tuple[dict[str, Any], list[ResourceState]]:
        try:
            # One json.loads over all rows is much faster than one per row.
            docs = json.loads("[" + ",".join(texts) + "]")
            return dict(json.loads(outputs)), [ResourceState.from_json(d) for d in docs]
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(
                f"stack '{stack}' at {self.loc.shown} holds a damaged row ({exc})",
                hint="restore the stack from a database backup (or driftless state push)",
            ) from None

    def _unchanged(self, stack: str, meta: Any) -> dict[ResourceId, ResourceState] | None:
        """The resources known at the stored (lineage, serial); None when this client
        does not know them."""
        with self._guard:
            known = self._known.get(stack)
        if known is None or (known.lineage, known.serial) != (meta[0], int(meta[1])):
            return None
        if known.states is not None:
            return known.states
        out: dict[ResourceId, ResourceState] = {}
        for rs, _text in known.rows.values():
            if rs is None:
                return None
            out[rs.id] = rs
        return out

    def _remember(self, stack: str, known: KnownRows) -> None:
        with self._guard:
            self._known[stack] = known

    def write(self, stack: str, snap: StateSnapshot) -> None:
        """Store ``snap`` if it is stored serial + 1 on the same lineage, under our lease."""
        self._store(stack, snap, importing=False)

    def import_snapshot(self, stack: str, snap: StateSnapshot) -> None:
        """Store ``snap`` keeping its serial (``state migrate``): only over nothing or
        an older serial of the same lineage; ``StateConflict`` otherwise."""
        self._store(stack, snap, importing=True)

    def _store(self, stack: str, snap: StateSnapshot, *, importing: bool) -> None:
        outputs = encode(f"outputs of stack '{stack}'", dict(snap.outputs))
        self.ensure_schema()
        self._ensure_history()
        with self._txn() as cur:
            self._serialise(cur, stack)
            self.fence(cur, stack, f"the write of serial {snap.serial}")
            cur.execute("SELECT lineage, serial FROM stacks WHERE name = %s FOR UPDATE",
                        (stack,))
            meta = cur.fetchone()
            check_base(stack, meta, snap, importing=importing)
            rows = self._write_rows(cur, stack, snap, self._prior_rows(cur, stack, meta))
            cur.execute(
                "INSERT INTO stacks (name, lineage, serial, outputs) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET lineage = excluded.lineage, "
                "serial = excluded.serial, outputs = excluded.outputs",
                (stack, snap.lineage, snap.serial, outputs))
            self._keep_snapshot(cur, stack, snap, outputs)
        self._remember(stack, KnownRows(snap.lineage, snap.serial, rows,
                                        shared_states(snap.resources)))

    def _keep_snapshot(self, cur: psycopg.Cursor[Any], stack: str, snap: StateSnapshot,
                       outputs: str) -> None:
        """Record this serial and forget what fell out of the last ``HISTORY``."""
        with self._guard:
            writer = self._writers.get(stack) if stack in self._held else None
        cur.execute(
            "INSERT INTO snapshots (stack, serial, lineage, at, writer, resources, outputs) "
            "VALUES (%s, %s, %s, extract(epoch FROM clock_timestamp()), %s, %s, %s) "
            "ON CONFLICT (stack, serial) DO UPDATE SET lineage = excluded.lineage, "
            "at = excluded.at, writer = excluded.writer, resources = excluded.resources, "
            "outputs = excluded.outputs",
            (stack, snap.serial, snap.lineage, writer or "write without a lock",
             len(snap.resources), outputs))
        oldest = snap.serial - HISTORY + 1
        cur.execute("DELETE FROM snapshots WHERE stack = %s AND serial < %s", (stack, oldest))
        cur.execute("DELETE FROM snapshot_rows WHERE stack = %s AND died <= %s",
                    (stack, oldest))

    def _keep_versions(self, cur: psycopg.Cursor[Any], stack: str, serial: int,
                       replaced: list[str], prior: Rows) -> None:
        """Keep each replaced row with the serials it was current for (born, died)."""
        if not replaced:
            return
        cur.execute("SELECT address, serial FROM resources WHERE stack = %s", (stack,))
        born = {str(a): int(s) for a, s in cur.fetchall()}
        versions = [(a, born[a], unpack(prior[a][1])) for a in sorted(replaced) if a in born]
        cur.executemany(
            "INSERT INTO snapshot_rows (stack, died, part, body) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (stack, died, part) DO UPDATE SET body = excluded.body",
            [(stack, serial, part, body) for part, body in enumerate(pack_batches(versions))])

    def history(self, stack: str) -> list[SnapshotInfo]:
        """The kept serials of ``stack`` (the last ``HISTORY``), newest first."""
        if not self._history_exists():
            return []
        with self._txn() as cur:
            cur.execute("SELECT serial, at, resources, writer FROM snapshots WHERE stack = %s "
                        "ORDER BY serial DESC", (stack,))
            rows = cur.fetchall()
        return [SnapshotInfo(stack, int(s), float(at), int(n), str(w)) for s, at, n, w in rows]

    def snapshot(self, stack: str, serial: int) -> StateSnapshot:
        """The stack as it was at a kept ``serial``: the rows not written since, and the
        replaced rows current then; ``StateError`` when that serial is not kept."""
        meta = None
        if self._history_exists():
            with self._txn(snapshot=True) as cur:
                cur.execute("SELECT lineage, outputs FROM snapshots WHERE stack = %s "
                            "AND serial = %s", (stack, serial))
                meta = cur.fetchone()
                if meta is not None:
                    cur.execute("SELECT doc FROM resources WHERE stack = %s AND serial <= %s",
                                (stack, serial))
                    texts = [str(r[0]) for r in cur.fetchall()]
                    cur.execute("SELECT body FROM snapshot_rows WHERE stack = %s AND died > %s "
                                "ORDER BY died, part", (stack, serial))
                    batches = [bytes(r[0]) for r in cur.fetchall()]
        if meta is None:
            kept = [h.serial for h in self.history(stack)]
            raise StateError(
                f"stack '{stack}': serial {serial} is not among its kept snapshots at "
                f"{self.loc.shown} ({', '.join(map(str, sorted(kept))) or 'none'})",
                hint=f"list them: driftless state history --stack {stack} (the last "
                     f"{HISTORY} serials are kept)")
        try:
            texts += [text for batch in batches for _, born, text in unpack_batch(batch)
                      if born <= serial]
        except (ValueError, TypeError) as exc:
            raise StateError(
                f"stack '{stack}' at {self.loc.shown}: its snapshot of serial {serial} is "
                f"damaged ({exc})", hint="pick another serial: driftless state history") \
                from None
        outputs, states = self._decode(stack, str(meta[1]), texts)
        return StateSnapshot(str(meta[0]), serial, {rs.id: rs for rs in states}, outputs)

    def _prior_rows(self, cur: psycopg.Cursor[Any], stack: str, meta: Any) -> Rows:
        """The stored rows: from memory when they are known to be current."""
        if meta is None:
            return {}
        with self._guard:
            known = self._known.get(stack)
        if known is not None and (known.lineage, known.serial) == (meta[0], int(meta[1])):
            return known.rows
        cur.execute("SELECT address, doc FROM resources WHERE stack = %s", (stack,))
        return {address: (None, doc) for address, doc in cur.fetchall()}

    def _write_rows(self, cur: psycopg.Cursor[Any], stack: str, snap: StateSnapshot,
                    prior: Rows) -> Rows:
        """Upsert changed rows, delete dropped ones; returns the new rows."""
        rows: Rows = {}
        changed: list[tuple[str, str, str, int]] = []
        for rid, rs in snap.resources.items():
            address = str(rid)
            before = prior.get(address)
            # The very object we stored is unchanged: skip re-encoding it. (A row is
            # stored as its text here, so ``unpack`` gives that very str.)
            text = unpack(before[1]) if before and before[0] is rs else \
                encode(address, rs.to_json())
            rows[address] = (rs, text)
            if before is None or before[1] != text:
                changed.append((stack, address, text, snap.serial))
        gone = [a for a in prior if a not in rows]
        replaced = gone + [c[1] for c in changed if c[1] in prior]
        self._keep_versions(cur, stack, snap.serial, replaced, prior)
        if gone:
            cur.execute("DELETE FROM resources WHERE stack = %s AND address = ANY(%s)",
                        (stack, gone))
        if changed:
            cur.executemany(
                "INSERT INTO resources (stack, address, doc, serial) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (stack, address) DO UPDATE SET doc = excluded.doc, "
                "serial = excluded.serial", changed)
        return rows

    # -- locks ---------------------------------------------------------------

    def lock(self, stack: str, info: LockInfo) -> str:
        """Take the lease (or an expired one, by compare-and-set); else ``LockHeld``."""
        return self._acquire(stack, info, replacing=None)

    def take_over(self, stack: str, info: LockInfo, *, holder: LockInfo) -> str:
        """Take the lease from ``holder`` (a process known to be dead) even before it
        expires, only while the row still is that holder's (compare-and-set on its
        token), so of two takers one wins and the other gets ``LockHeld``."""
        return self._acquire(stack, info, replacing=holder)

    def _acquire(self, stack: str, info: LockInfo, *, replacing: LockInfo | None) -> str:
        self.ensure_schema()
        token = uuid.uuid4().hex
        lease = max(0.0, info.expires - info.created)
        # The stored lease never outlasts the one ``info`` states: a lock handed in
        # already expired (a holder planted by a test or a tool) is stored expired.
        # The server's clock still decides expiry; ours only shortens the first term.
        first = min(lease, max(0.0, info.expires - time.time()))
        doc = dumps({k: v for k, v in info.to_json().items() if k not in ("id", "expires")})
        with self._txn() as cur:
            self._serialise(cur, stack)
            cur.execute(_HOLDER + " FOR UPDATE", (stack,))
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    "INSERT INTO leases (stack, lock_id, token, info, lease, expires_at) "
                    "VALUES (%s, %s, %s, %s, %s, clock_timestamp() + make_interval(secs => %s))",
                    (stack, info.id, token, doc, lease, first))
            else:
                self._take_over(cur, stack, row, info, token=token, doc=doc, lease=lease,
                                first=first, replacing=replacing)
        with self._guard:
            self._held[stack] = _Held(info.id, token)
            self._begun.pop(stack, None)
            self._writers[stack] = f"{info.who}: {info.operation}"
        return info.id

    def _take_over(self, cur: psycopg.Cursor[Any], stack: str, row: Any, info: LockInfo, *,
                   token: str, doc: str, lease: float, first: float,
                   replacing: LockInfo | None) -> None:
        """Replace an expired lease, our own, or the dead holder named by ``replacing``,
        only if the row still holds the token we saw."""
        dead = replacing.id if replacing is not None else None
        if not row[4] and row[0] not in (info.id, dead):
            raise LockHeld(stack, _holder(row))
        cur.execute(
            "UPDATE leases SET lock_id = %s, token = %s, info = %s, lease = %s, "
            "expires_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE stack = %s AND token = %s "
            "AND (expires_at <= clock_timestamp() OR lock_id = %s OR lock_id = %s)",
            (info.id, token, doc, lease, first, stack, row[1], info.id, dead or info.id))
        if cur.rowcount != 1:
            raise LockHeld(stack, _holder(row))

    def _token(self, stack: str, lock_id: str) -> str | None:
        """Our fencing token for ``lock_id``, when this client took it."""
        with self._guard:
            held = self._held.get(stack)
        return held.token if held is not None and held.lock_id == lock_id else None

    def renew(self, stack: str, lock_id: str) -> None:
        """Push our lease forward by its length; ``StateError`` if it is not ours now."""
        if not self._exists():
            raise not_ours(stack, None, doing="renew")
        with self._txn() as cur:
            cur.execute(
                "UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => lease) "
                "WHERE stack = %s AND lock_id = %s AND token = coalesce(%s, token)",
                (stack, lock_id, self._token(stack, lock_id)))
            if cur.rowcount == 1:
                return
            cur.execute(_HOLDER, (stack,))
            row = cur.fetchone()
        raise not_ours(stack, row and _holder(row), doing="renew")

    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None:
        """Release our lock (a no-op when nobody holds it); ``force`` any lock."""
        token = self._token(stack, lock_id)
        with self._guard:
            if token is not None:
                del self._held[stack]
                self._begun.pop(stack, None)
        if not self._exists():
            return
        with self._txn() as cur:
            if force:
                cur.execute("DELETE FROM leases WHERE stack = %s", (stack,))
                return
            cur.execute("DELETE FROM leases WHERE stack = %s AND lock_id = %s "
                        "AND token = coalesce(%s, token)", (stack, lock_id, token))
            if cur.rowcount == 1:
                return
            cur.execute(_HOLDER, (stack,))
            row = cur.fetchone()
        if row is not None:
            raise not_ours(stack, _holder(row), doing="unlock")

    def lock_info(self, stack: str) -> LockInfo | None:
        """The current holder, expired or not."""
        if not self._exists():
            return None
        with self._txn() as cur:
            cur.execute(_HOLDER, (stack,))
            row = cur.fetchone()
        return None if row is None else _holder(row)

    def journal(self, stack: str) -> PostgresJournal:
        """The stack's write-ahead journal."""
        return PostgresJournal(self, stack)

