"""The PostgreSQL state backend's journal, and what it shares with the backend.

``PostgresJournal``: every call is one committed transaction on the table
``journal`` (a ``bigserial`` numbers entries, so numbers are never reused),
so an intent survives a crash before the provider acts on it. Every write to
it is fenced like a snapshot write (``PostgresBackend.fence``): a client
whose lease was taken over cannot record intents or outcomes any more.

Shared with ``postgres``, kept here so each file stays readable: the URL
(``parse_url`` → ``PgLocation``, with the password kept out of everything
printable), the tables' DDL, the refusals (``check_base``, ``not_ours``) and
``failure``, which turns a psycopg error into a ``StateError`` with a hint
for the usual causes (server not running, wrong password, missing database,
missing privilege). No I/O but the
backend's connections.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from driftless.errors import ConfigError, StateConflict, StateError
from driftless.model import LockInfo, StateSnapshot
from driftless.records import record
from driftless.state.base import JournalEntry
from driftless.state.sqlite_journal import encode

if TYPE_CHECKING:
    from driftless.state.postgres import PostgresBackend

__all__ = [
    "DDL", "HISTORY_DDL", "SCHEMA_VERSION", "PgLocation", "PostgresJournal", "check_base",
    "failure", "not_ours", "parse_url",
]

SCHEMA_VERSION = 2  # 2: snapshots and snapshot_rows (the last serials of each stack)
DEFAULT_SCHEMA = "driftless"
_SCHEMES = ("postgres", "postgresql")
_HIDDEN = "***"

# COLLATE "C": names sort by code point, like Python's sorted(), whatever the
# database's locale; the primary keys' indexes then need no locale either.
DDL = (
    """CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS stacks (
        name text COLLATE "C" PRIMARY KEY, lineage text NOT NULL,
        serial bigint NOT NULL, outputs text NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS resources (
        stack text COLLATE "C" NOT NULL, address text COLLATE "C" NOT NULL,
        doc text NOT NULL, serial bigint NOT NULL, PRIMARY KEY (stack, address))""",
    """CREATE TABLE IF NOT EXISTS leases (
        stack text COLLATE "C" PRIMARY KEY, lock_id text NOT NULL, token text NOT NULL,
        info text NOT NULL, lease double precision NOT NULL,
        expires_at timestamptz NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS journal (
        seq bigserial PRIMARY KEY, stack text COLLATE "C" NOT NULL,
        address text NOT NULL, action text NOT NULL, intent text NOT NULL,
        finished boolean NOT NULL DEFAULT false, ok boolean NOT NULL DEFAULT false,
        live text, at timestamptz NOT NULL DEFAULT clock_timestamp())""",
    """CREATE INDEX IF NOT EXISTS journal_by_stack ON journal (stack, seq)""",
)
# Version 2: each write's serial, and the rows it replaced (deflated batches, see
# ``driftless.state.packed``), so the last serials of a stack can be rebuilt.
HISTORY_DDL = (
    """CREATE TABLE IF NOT EXISTS snapshots (
        stack text COLLATE "C" NOT NULL, serial bigint NOT NULL, lineage text NOT NULL,
        at double precision NOT NULL, writer text NOT NULL, resources integer NOT NULL,
        outputs text NOT NULL, PRIMARY KEY (stack, serial))""",
    """CREATE TABLE IF NOT EXISTS snapshot_rows (
        stack text COLLATE "C" NOT NULL, died bigint NOT NULL, part integer NOT NULL,
        body bytea NOT NULL, PRIMARY KEY (stack, died, part))""",
)


@record
class PgLocation:
    """A parsed state URL: what libpq gets, and what may be shown."""

    conninfo: str = field(repr=False)  # may hold the password: never print it
    schema: str
    shown: str
    secrets: tuple[str, ...] = field(default=(), repr=False)
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def scrub(self, text: str) -> str:
        """``text`` with every password we know replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, _HIDDEN)
        return text


def _shown(parts: Any, query: list[tuple[str, str]]) -> str:
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", f":{_HIDDEN}@", 1)
    visible = [(k, _HIDDEN if k == "password" else v) for k, v in query]
    return str(urlunsplit(parts._replace(netloc=netloc, query=urlencode(visible, safe=":/,"))))


def _schema(value: str | None, shown: str) -> str:
    schema = DEFAULT_SCHEMA if value is None else value
    if not schema or len(schema.encode()) > 63 or "\0" in schema:
        raise ConfigError(f"bad schema '{schema}' in state URL '{shown}'",
                          hint="use a schema name of 1 to 63 bytes, e.g. ?schema=driftless")
    return schema


def parse_url(url: str) -> PgLocation:
    """``postgres://user@host:port/db?schema=…`` → ``PgLocation``; ``ConfigError`` if bad."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    shown = _shown(parts, query)
    if parts.scheme not in _SCHEMES:
        raise ConfigError(f"bad PostgreSQL state URL '{shown}'",
                          hint="use postgres://user@host:5432/db?schema=driftless")
    schema = _schema(dict(query).get("schema"), shown)
    rest = [(k, v) for k, v in query if k != "schema"]
    conninfo = urlunsplit(parts._replace(query=urlencode(rest, safe=":/,")))
    secrets = tuple(s for s in [parts.password, *(v for k, v in rest if k == "password")] if s)
    loc = PgLocation(conninfo, schema, shown, secrets)
    try:
        given = conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        raise ConfigError(f"bad PostgreSQL state URL '{shown}': {loc.scrub(str(exc))}",
                          hint="query options other than schema go to libpq; see "
                               "https://www.postgresql.org/docs/current/libpq-connect.html"
                          ) from None
    defaults = {k: v for k, v in (("connect_timeout", 10), ("application_name", "driftless"))
                if k not in given}
    return PgLocation(conninfo, schema, shown, secrets, defaults)


_FINISH = "UPDATE journal SET finished = true, ok = %s, live = %s WHERE seq = %s AND stack = %s"
# After a lost lease, an outcome lands only on an entry still unfinished (not yet
# recovered by the new holder).
_UNFINISHED = " AND NOT finished"

# What a failure usually means, by a pattern in libpq's or the server's message.
_HINTS = (
    ("connection refused", "is PostgreSQL running and listening on that host and port? "
                           "check the URL's host:port"),
    ("could not translate host name", "check the host name in the state URL"),
    ("timeout expired", "the server did not answer; check the host, port and firewall"),
    ("password authentication failed", "check the user and password (in the URL, "
                                       "PGPASSWORD or ~/.pgpass)"),
    ("no password supplied", "give a password in PGPASSWORD or ~/.pgpass"),
    ("no pg_hba.conf entry", "the server does not let this user in from here; "
                             "ask its administrator to allow it in pg_hba.conf"),
    (r'database ".*" does not exist', "create the database first (createdb …) or fix "
                                      "its name in the URL"),
    ("permission denied", "grant the user CREATE on the database (or create the schema "
                          "for it: CREATE SCHEMA … AUTHORIZATION user) and rights on its tables"),
)


def failure(loc: PgLocation, exc: psycopg.Error) -> StateError:
    """A ``StateError`` for ``exc`` that names the URL (password hidden) and a likely fix."""
    message = loc.scrub(re.sub(r"\s+", " ", str(exc)).strip())
    lowered = message.lower()
    hint = next((h for pattern, h in _HINTS if re.search(pattern, lowered)), None)
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        hint = "another client held a row lock for long; retry in a moment"
    if isinstance(exc, psycopg.OperationalError) and hint is not None:
        return StateError(f"cannot use PostgreSQL state at {loc.shown}: {message}", hint=hint)
    return StateError(f"PostgreSQL state at {loc.shown} failed: {message}",
                      hint=hint or "check the server's log; the transaction was rolled back")


def check_base(stack: str, meta: Any, snap: StateSnapshot, *, importing: bool) -> None:
    """Refuse a write not based on the stored serial and lineage (an import: not newer).

    The serial is checked first: two runs that both created a new stack
    differ in lineage too, but "changed since it was read" is the truth.
    """
    lineage, serial = (snap.lineage, 0) if meta is None else (meta[0], int(meta[1]))
    if not importing and snap.serial != serial + 1:
        raise StateConflict(
            f"stack '{stack}': state changed since it was read "
            f"(serial {snap.serial - 1} → {serial}); refusing to write serial {snap.serial}",
            hint="another run wrote this stack; re-run plan and apply again")
    if lineage != snap.lineage:
        raise StateConflict(
            f"stack '{stack}': refusing to write state of lineage {snap.lineage[:12]} "
            f"over state of lineage {lineage[:12]}; they are different states",
            hint="check the state URL points at this project's state; to replace it "
                 "on purpose use driftless state push --force")
    if importing and meta is not None and serial >= snap.serial:
        raise StateConflict(
            f"stack '{stack}' already holds serial {serial}; refusing to import serial "
            f"{snap.serial} over it", hint="the destination is as new or newer; use it as is")


def not_ours(stack: str, current: LockInfo | None, *, doing: str) -> StateError:
    if current is None:
        return StateError(
            f"cannot {doing} the lock on stack '{stack}': it is not held (lease "
            "expired and taken, or force-unlocked)",
            hint="take the lock again before changing this stack")
    return StateError(
        f"cannot {doing} the lock on stack '{stack}': it is held by {current.describe()}",
        hint=f"wait for it to finish, or take it over: driftless state unlock {stack} --force")


class PostgresJournal:
    """The journal of one stack; every call is its own committed transaction."""

    def __init__(self, backend: PostgresBackend, stack: str) -> None:
        self._backend = backend
        self.stack = stack

    def begin(self, address: str, action: str, intent: Mapping[str, Any]) -> int:
        """Record an intent; committed (survives kill -9) before returning."""
        return self.begin_many([(address, action, intent)])[0]

    def begin_many(self, items: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        """Record several intents in one committed transaction (the applier's batches)."""
        # Journal entries are never compared as text: skip the canonical key sort.
        rows = [(self.stack, a, act, encode(f"journal intent for {a}", dict(i), canonical=False))
                for a, act, i in items]
        self._backend.ensure_schema()
        seqs: list[int] = []
        with self._backend._txn() as cur:
            self._backend.fence(cur, self.stack, f"journal intent for {items[0][0]}")
            cur.executemany("INSERT INTO journal (stack, address, action, intent) "
                            "VALUES (%s, %s, %s, %s) RETURNING seq", rows, returning=True)
            while True:
                row = cur.fetchone()
                assert row is not None
                seqs.append(int(row[0]))
                if not cur.nextset():
                    break
        self._backend.began(self.stack, seqs)
        return seqs

    def finish(self, seq: int, *, ok: bool, live: Mapping[str, Any] | None) -> None:
        """Record the outcome of intent ``seq``."""
        with self._outcomes([(seq, ok, live)]) as (cur, rows, lost):
            cur.execute(_FINISH + _UNFINISHED * lost, rows[0])
            if lost and cur.rowcount != 1:
                raise self._gone(f"journal outcome {seq}")
            if cur.rowcount != 1:
                raise StateError(
                    f"journal of stack '{self.stack}' has no entry {seq} to finish",
                    hint="it was cleared or belongs to another stack; this is a bug, "
                         "please report it")

    def finish_many(self, outcomes: Sequence[tuple[int, bool, Mapping[str, Any] | None]]
                    ) -> None:
        """Record several outcomes in one committed transaction."""
        with self._outcomes(outcomes) as (cur, rows, lost):
            if not lost:
                cur.executemany(_FINISH, rows)
                return
            for row in rows:  # each must still be unfinished: not recovered by the new holder
                cur.execute(_FINISH + _UNFINISHED, row)
                if cur.rowcount != 1:
                    raise self._gone(f"journal outcome {row[2]}")

    def _gone(self, doing: str) -> StateError:
        """Our lease was lost and the new holder already dealt with our entries."""
        return StateError(
            f"lock lost: the lease on stack '{self.stack}' passed to another run, which "
            f"already recovered our journal entries; {doing} was refused",
            hint="run plan again to see the stack's state")

    @contextmanager
    def _outcomes(self, outcomes: Sequence[tuple[int, bool, Mapping[str, Any] | None]]
                  ) -> Iterator[tuple[psycopg.Cursor[Any], list[tuple[Any, ...]], bool]]:
        """A fenced transaction, the encoded rows for ``_FINISH``, and whether our
        lease was lost (only outcomes of our own intents get this far then)."""
        rows: list[tuple[Any, ...]] = [
            (ok, None if live is None else
             encode(f"journal entry {seq}", dict(live), canonical=False), seq, self.stack)
            for seq, ok, live in outcomes]
        self._backend.ensure_schema()
        with self._backend._txn() as cur:
            lost = self._backend.fence(cur, self.stack, f"journal outcome {outcomes[0][0]}",
                                       outcomes=[seq for seq, _, _ in outcomes])
            yield cur, rows, lost

    def entries(self) -> list[JournalEntry]:
        """Entries not yet cleared, oldest first."""
        if not self._backend._exists():
            return []
        with self._backend._txn() as cur:
            cur.execute("SELECT seq, address, action, intent, finished, ok, live FROM journal "
                        "WHERE stack = %s ORDER BY seq", (self.stack,))
            rows = cur.fetchall()
        return [JournalEntry(int(seq), address, action, json.loads(intent), bool(finished),
                             bool(ok), None if live is None else json.loads(live))
                for seq, address, action, intent, finished, ok, live in rows]

    def clear(self, upto: int) -> None:
        """Drop entries up to and including ``upto``."""
        if not self._backend._exists():
            return
        with self._backend._txn() as cur:
            self._backend.fence(cur, self.stack, f"clearing journal entries up to {upto}")
            cur.execute("DELETE FROM journal WHERE stack = %s AND seq <= %s", (self.stack, upto))

