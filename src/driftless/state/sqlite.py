"""The default state backend: one SQLite file beside the project.

I/O: reads and writes one SQLite database (WAL mode) and creates its parent
directory. Every stack has a meta row (lineage, serial, outputs), one row per
managed resource (so a write touches only the rows that changed), a lease
lock row and journal rows. Connections are per thread, because the engine
writes journal entries from a pool of worker threads; writers take
``BEGIN IMMEDIATE`` so a read-check-write is one atomic step across
processes. Every ``sqlite3`` failure becomes a ``StateError`` naming the file.
The journal class lives in ``sqlite_journal`` and is re-exported here.

Rows, outputs and journal documents are stored packed (``packed``: deflated
JSON; older clear rows still read). Every write also records its serial in
``snapshots`` (time, writer, resource count, outputs) and keeps the rows it
replaced or dropped in ``snapshot_rows`` (deflated in batches, each row with
the serials it was current for), so any of the last ``history`` serials (URL
option ``?history=N``, default 10) can be rebuilt from the live rows not
written since plus those old rows: ``history`` and ``snapshot``.

Leases are fenced. Every ``lock`` stores a fresh token in the lock row
(inside its ``info`` JSON, so the schema is unchanged) and this backend
instance remembers it per stack. Taking over an expired holder, or a dead
one (``take_over``), is a compare-and-set on the row it replaces inside one
``BEGIN IMMEDIATE`` transaction, so two takers can never both win. Every
snapshot write and journal write checks, in its own write transaction, that
the row still holds our token and refuses with "lock lost" otherwise; a
client that took no lock on a stack writes as before (one-off tools, tests).
One write passes after the lock is lost: the outcome of a journal intent this
instance began under it, onto that entry while still unfinished.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from driftless.errors import ConfigError, LockHeld, StateConflict, StateError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.model.gcpause import gc_paused, outlive
from driftless.records import record
from driftless.state.base import SnapshotInfo
from driftless.state.packed import pack, pack_batches, unpack, unpack_batch
from driftless.state.row_cache import Held, IdParts, Keyed, Row, RowCache
from driftless.state.rows import Fresh, KnownRows, Rows, shared_states
from driftless.state.sqlite_journal import SQLiteJournal, dumps, encode
from driftless.state.writeback import WalWriteback

__all__ = ["SQLiteBackend", "SQLiteJournal", "from_url"]

SCHEMA_VERSION = 3
# A stack's rows as a read selects them; the row cache is keyed by their order (the
# primary key's: ORDER BY says so, and costs no sort).
_ROWS = "SELECT address, doc FROM resources WHERE stack = ? ORDER BY address"
# Written rows whose old versions are kept: up to this many, each one's serial is
# looked up by its key; more, and one select of the stack's serials is cheaper.
_LOOKED_UP = 256
DEFAULT_HISTORY = 10
MAX_HISTORY = 100  # the URL comes from driftless.yaml: a repository must not fill the disk
BUSY_TIMEOUT = 30.0
PAGE_BYTES = 16 << 10
"""The page size of a new state file. SQLite's default (4 KB) splits an apply's
larger rows (a batch of journal intents, a group of outcomes) into chains of
overflow pages and writes each page as a frame of its own: a 10,000-file first
apply wrote ~5,600 frames to the WAL and read ~1,400 back. With 16 KB pages it
writes ~1,700 and reads ~400 (~10 ms less on tmpfs), for a file ~8% larger; a
small change still rewrites only the pages it touches. A file keeps the size it
was made with (WAL mode cannot change it)."""
WAL_CHECKPOINT_BYTES = 40 << 20
_READONLY_ROLLBACK = 776  # SQLITE_READONLY_ROLLBACK: a hot journal, read-only connection
WAL_KEPT_BYTES = 4 << 20
# PRAGMA application_id of every driftless state file ("DRFT"): another
# program's SQLite file named as state is refused before a byte is written.
APPLICATION_ID = 0x44524654
_OUR_TABLES = frozenset({"stacks", "resources", "locks", "journal", "sqlite_sequence",
                         "snapshots", "snapshot_rows"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stacks (
    name TEXT PRIMARY KEY, lineage TEXT NOT NULL,
    serial INTEGER NOT NULL, outputs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
    stack TEXT NOT NULL, address TEXT NOT NULL, doc TEXT NOT NULL,
    serial INTEGER NOT NULL, PRIMARY KEY (stack, address)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS locks (
    stack TEXT PRIMARY KEY, id TEXT NOT NULL, info TEXT NOT NULL,
    lease REAL NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, stack TEXT NOT NULL,
    address TEXT NOT NULL, action TEXT NOT NULL, intent TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0, ok INTEGER NOT NULL DEFAULT 0,
    live TEXT, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_stack ON journal (stack, seq);
CREATE TABLE IF NOT EXISTS snapshots (
    stack TEXT NOT NULL, serial INTEGER NOT NULL, lineage TEXT NOT NULL,
    at REAL NOT NULL, writer TEXT NOT NULL, resources INTEGER NOT NULL,
    outputs BLOB NOT NULL, PRIMARY KEY (stack, serial)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshot_rows (
    stack TEXT NOT NULL, died INTEGER NOT NULL, part INTEGER NOT NULL,
    body BLOB NOT NULL, PRIMARY KEY (stack, died, part));
"""


def from_url(url: str, root: Path) -> SQLiteBackend:
    """``sqlite:///rel/path.db`` (relative to ``root``) or ``sqlite:////abs.db``;
    ``?history=N`` keeps the last N snapshots of each stack (default 10, 0: none)."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
        raise ConfigError(
            f"state URL '{url}' has no usable file path",
            hint="write sqlite:///.driftless/state.db (relative to the project) "
            "or sqlite:////var/lib/driftless/state.db (absolute)",
        )
    path = Path(parts.path[1:])
    return SQLiteBackend(path if path.is_absolute() else root / path,
                         history=_history_option(url, parts.query))


def _history_option(url: str, query: str) -> int:
    """The ``history=N`` of a state URL's query (the only option SQLite takes)."""
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"history"})
    if unknown:
        raise ConfigError(f"state URL '{url}': unknown option {', '.join(unknown)}",
                          hint="the sqlite backend takes one option: ?history=N (snapshots "
                               f"kept per stack, 0 to {MAX_HISTORY}, default {DEFAULT_HISTORY})")
    values = options.get("history", [str(DEFAULT_HISTORY)])
    try:
        keep = int(values[-1])
    except ValueError:
        keep = -1
    if not 0 <= keep <= MAX_HISTORY:
        raise ConfigError(f"state URL '{url}': history={values[-1]} is not a number of "
                          f"snapshots from 0 to {MAX_HISTORY}",
                          hint=f"e.g. sqlite:///.driftless/state.db?history=20 (default "
                               f"{DEFAULT_HISTORY}; 0 keeps none)")
    return keep


class SQLiteBackend:
    """``StateBackend`` over one SQLite file; safe across threads and processes."""

    def __init__(self, path: Path, *, timeout: float = BUSY_TIMEOUT,
                 history: int = DEFAULT_HISTORY) -> None:
        self.path = path
        self.history_kept = history
        self._writeback = WalWriteback(path)
        self._timeout = timeout
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._known: dict[str, KnownRows] = {}
        # stack -> id(state) -> (state, address, packed row) journaled as
        # outcomes since the last write: that write stores those bytes for those very
        # states (found by identity, so the write formats no address for them).
        self._fresh: dict[str, dict[int, Fresh]] = {}
        # stack -> (lock id, fencing token) of each lock this instance took.
        self._held: dict[str, tuple[str, str]] = {}
        # stack -> the stored bytes of its known rows and what the row cache holds
        # for them: set with ``_known`` (``_remember``), so always of the same rows.
        self._stored: dict[str, _Stored] = {}
        # stacks whose rows were read without the row cache, to be left there once
        # this client holds the lock (``_keep_missed``)
        self._missed: set[str] = set()
        # stack -> journal seqs this instance began under that lock (see ``fence``).
        self._begun: dict[str, set[int]] = {}
        self._ready = False
        self._create_lock = threading.Lock()
        if path.exists():
            self._create()  # refuses a foreign file now, not at the first write

    def _create(self) -> None:
        """Check, create or migrate the file: on first use, so a read-only command (or a
        plan that fails before its first write) leaves no new state file behind."""
        with self._create_lock:
            if self._ready:
                return
            if self._check_foreign():
                self._ready = True  # current schema: reading it writes nothing at all
                return
            self._prepare_dir()
            db = self._conn()
            with self._errors():
                db.execute("BEGIN IMMEDIATE")
                try:
                    self._migrate(db)
                    db.commit()
                finally:
                    if db.in_transaction:
                        db.rollback()
            self._ready = True

    def _check_foreign(self) -> bool:
        """Refuse a file that is not a driftless state database, opened read-only;
        True when it is one already at the current schema (nothing to migrate). A
        hot rollback journal beside it (a run killed while it made the file) is
        played back first, as any SQLite client does on a writable open."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        with self._errors():
            try:
                app_id, version, tables = self._probe()
            except sqlite3.OperationalError as exc:
                if not self._hot_journal(exc):
                    raise
                self._roll_back()
                if self.path.stat().st_size == 0:
                    return False  # killed in its first transaction: a new file still
                app_id, version, tables = self._probe()
        if app_id == APPLICATION_ID or (app_id == 0 and tables <= _OUR_TABLES):
            return (app_id == APPLICATION_ID and version == SCHEMA_VERSION
                    and tables >= _OUR_TABLES - {"sqlite_sequence"})
        raise StateError(
            f"{self.path} is not a driftless state database (it holds "
            f"{', '.join(sorted(tables - _OUR_TABLES)) or 'another application_id'}); "
            "nothing was written to it",
            hint="point state: in driftless.yaml at a new file, e.g. "
                 "sqlite:///.driftless/state.db")

    def _probe(self) -> tuple[int, int, set[str]]:
        """application_id, user_version and table names, read without writing."""
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            app_id = int(db.execute("PRAGMA application_id").fetchone()[0])
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
        return app_id, version, tables

    def _hot_journal(self, exc: sqlite3.OperationalError) -> bool:
        """Whether a read-only look failed only because a rollback journal is waiting
        to be played back: a run killed while it created the file (before its switch
        to WAL) leaves one, and only a writable connection may roll it back."""
        return bool(exc.sqlite_errorcode == _READONLY_ROLLBACK)

    def _roll_back(self) -> None:
        """Let SQLite roll back a hot journal, as any writable open does: the file is
        then as its last commit left it (empty, when that was its first)."""
        db = sqlite3.connect(self.path, timeout=self._timeout)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            db.close()

    def _prepare_dir(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the state directory {self.path.parent}: {exc.strerror}",
                hint="point the state URL at a writable directory "
                "(e.g. sqlite:///.driftless/state.db) or fix its permissions",
            ) from None

    def _conn(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
            with self._guard:
                self._opened.append(db)
        return db

    def _connect(self) -> sqlite3.Connection:
        with self._errors():
            db = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None,
                check_same_thread=False,
            )
            try:
                if self.path.stat().st_size == 0:
                    # a new file gives back the space of cleared journal rows; the page
                    # size and the mode must be set before WAL or any table, the page
                    # size first (an older file keeps its own)
                    db.execute(f"PRAGMA page_size = {PAGE_BYTES}")
                    db.execute("PRAGMA auto_vacuum = INCREMENTAL")
                self._enter_wal(db)
                db.execute("PRAGMA synchronous=NORMAL")
                # Checkpoint when the WAL holds ~40 MB, not ~4 MB (the default): an
                # apply of 10,000 files writes ~10 MB of intents, outcomes and rows,
                # most of them to pages it rewrites or frees before it ends, and each
                # checkpoint is two syncs plus a copy of every page it holds. A
                # commit is as durable either way: the WAL is what a crash replays.
                # A long-lived client (the agent) has its WAL cut back to what the
                # default left on disk (~4 MB) once a checkpoint has emptied it.
                page = int(db.execute("PRAGMA page_size").fetchone()[0]) or 4096
                db.execute(f"PRAGMA wal_autocheckpoint={max(1, WAL_CHECKPOINT_BYTES // page)}")
                db.execute(f"PRAGMA journal_size_limit={WAL_KEPT_BYTES}")
                # Deleted rows (a cleared journal, dropped snapshots) are zeroed where
                # that costs no extra I/O, so old documents do not linger in pages.
                db.execute("PRAGMA secure_delete=FAST")
            except sqlite3.Error:
                db.close()
                raise
            return db

    def _enter_wal(self, db: sqlite3.Connection) -> None:
        """Switch to WAL, retrying while another client switches it at the same time.

        Two clients opening a brand-new file can both try to take the
        exclusive lock the switch needs; SQLite then answers one of them
        "database is locked" at once, without waiting in its busy handler.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL").fetchall()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite3 failures into a ``StateError`` that names the file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise self._failure(exc, busy="locked" in str(exc)) from None
        except sqlite3.DatabaseError as exc:
            raise self._failure(exc, busy=False) from None

    def _failure(self, exc: sqlite3.Error, *, busy: bool) -> StateError:
        if busy:
            return StateError(
                f"state database {self.path} stayed busy for {self._timeout:.0f}s ({exc})",
                hint="another driftless process is writing it; retry in a moment",
            )
        return StateError(
            f"state database {self.path} is unusable: {exc}",
            hint="check the file and directory are readable and writable; if the file "
            "is damaged, move it aside and push back a copy saved with driftless state "
            "pull (driftless state push STACK FILE); snapshots live in the same file",
        )

    @contextmanager
    def _txn(self, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction; ``immediate`` takes the write lock up front.

        Reads of a state file that does not exist yet run against an empty
        in-memory database instead of creating the file.
        """
        if not self._ready:
            if not immediate and not self.path.exists():
                empty = sqlite3.connect(":memory:")
                try:
                    empty.executescript(_SCHEMA)
                    yield empty
                finally:
                    empty.close()
                return
            self._create()
        db = self._conn()
        with self._errors():
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
                db.commit()
                if immediate:  # a write: the disk may start on the WAL now
                    self._writeback.committed()
            except BaseException:
                # Also after a failed COMMIT, so the next BEGIN is not nested.
                if db.in_transaction:
                    db.rollback()
                raise

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state database {self.path} has schema {version}; this driftless "
                f"knows up to {SCHEMA_VERSION}",
                hint="upgrade driftless to read this state",
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        if version == 2:
            # Schema 2 kept old rows one by one (resource_versions): its older
            # snapshots go with that table; each stack's current one stays.
            db.execute("DROP TABLE IF EXISTS resource_versions")
            db.execute("DELETE FROM snapshots WHERE serial < "
                       "(SELECT serial FROM stacks WHERE name = snapshots.stack)")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def reclaim(self) -> None:
        """Give the pages of deleted rows (a cleared journal) back to the file system,
        so state stays the size of what it records. Best effort: a busy database just
        keeps its free pages until the next time. Needs incremental auto-vacuum, which
        new files get; ``executescript`` steps the pragma to the end, as it must."""
        with suppress(sqlite3.Error):
            self._conn().executescript("PRAGMA incremental_vacuum;")

    def close(self) -> None:
        """Close every thread's connection, and forget the rows kept for the next
        read (a one-shot command lets them ``outlive`` the backend)."""
        with self._guard:
            opened, self._opened = self._opened, []
            outlive(self._known, self._stored, self._fresh, self._missed)
            self._known, self._stored, self._fresh, self._missed = {}, {}, {}, set()
        for db in opened:
            db.close()
        self._writeback.close()
        self._local = threading.local()

    # -- snapshots ---------------------------------------------------------

    def stacks(self) -> list[str]:
        """Names of every stack that has been written."""
        with self._txn() as db:
            return [r[0] for r in db.execute("SELECT name FROM stacks ORDER BY name")]

    def read(self, stack: str) -> StateSnapshot:
        """The stored snapshot; a fresh, unsaved one for an unknown stack."""
        # The select and the decode of 10,000 rows make ~120,000 objects: with the
        # cyclic collector on, its generation scans cost ~30% of the read.
        with gc_paused():
            return self._read(stack)

    def _read(self, stack: str) -> StateSnapshot:
        with self._txn() as db:
            meta = db.execute(
                "SELECT lineage, serial, outputs FROM stacks WHERE name = ?", (stack,)
            ).fetchone()
            if meta is None:
                return StateSnapshot.empty()
            same = self._unchanged(stack, meta)
            if same is not None:
                # The rows this client last read or wrote at this lineage and serial:
                # every write moves the serial (fenced, in one transaction), so they
                # are what is stored; not read and decoded again (3 reads per apply).
                outputs = self._decode(stack, meta[2], [])[0]
                self._keep_missed(stack)
                return StateSnapshot(meta[0], meta[1], same, outputs)
            selected = db.execute(_ROWS, (stack,)).fetchall()
        keyed = Keyed.of([address for address, _ in selected], [doc for _, doc in selected])
        del selected
        outputs, states, held = self._decode_cached(stack, meta[2], keyed)
        resources = {}
        known: Rows = {}
        for address, rs, value in zip(keyed.addresses, states, keyed.stored, strict=True):
            resources[rs.id] = rs
            known[address] = (rs, value)
        self._remember(stack, KnownRows(meta[0], meta[1], known, resources),
                       _Stored(keyed, held))
        with self._guard:
            if held is None:
                self._missed.add(stack)
            else:
                self._missed.discard(stack)
        self._keep_missed(stack)
        return StateSnapshot(meta[0], meta[1], resources, outputs)

    def _keep_missed(self, stack: str) -> None:
        """Leave rows read without the row cache there, once this client holds the
        stack's lock (plan, apply): state an older version wrote, or not written
        since, gets its cache too. A read-only command never holds it: writes nothing."""
        with self._guard:
            if stack not in self._held or stack not in self._missed:
                return
            self._missed.discard(stack)
            known, stored = self._known.get(stack), self._stored.get(stack)
        if known is None or stored is None:
            return
        held = self._keep_all(stack, stored.keyed, known.rows, share=True)
        with self._guard:
            if self._stored.get(stack) is stored:  # the same rows still
                self._stored[stack] = _Stored(stored.keyed, held)

    def _decode(
        self, stack: str, outputs: str | bytes, stored: list[str | bytes], *,
        serial: int | None = None,
    ) -> tuple[dict[str, Any], list[ResourceState]]:
        """Outputs and resources (packed rows inflated)."""
        try:
            # One json.loads over all rows is ~35% faster than one per row.
            docs = json.loads("[" + ",".join([unpack(v) for v in stored]) + "]")
            return (dict(json.loads(unpack(outputs))),
                    [ResourceState.from_json(d) for d in docs])
        except (ValueError, KeyError, TypeError) as exc:
            which = "" if serial is None else f" in its snapshot of serial {serial}"
            raise _damaged(self.path, stack, f"row{which}", exc) from None

    def _decode_cached(
        self, stack: str, outputs: str | bytes, keyed: Keyed,
    ) -> tuple[dict[str, Any], list[ResourceState], Held | None]:
        """``_decode``, taking the rows from the row cache when it holds them for these
        very bytes (``row_cache``); the last item is what it holds (None: nothing)."""
        loaded = RowCache(self.path).load(stack, keyed.key)
        if loaded is not None and len(loaded[0]) == len(keyed.stored):
            with suppress(ValueError, TypeError, KeyError):
                return self._decode(stack, outputs, [])[0], _states_of(loaded[0]), loaded[1]
        return *self._decode(stack, outputs, keyed.stored), None

    def _keep_all(self, stack: str, keyed: Keyed, rows: Rows, *,
                  share: bool = False) -> Held | None:
        """Leave ``rows``, decoded, for the next read as a new row cache base
        (``row_cache``): ``keyed`` is what that read will select, in its order;
        ``share``: they were just decoded from JSON (``RowCache.save``)."""
        states = [rows.get(address, _UNKNOWN)[0] for address in keyed.addresses]
        if any(rs is None for rs in states):
            return None  # not known decoded: the next read decodes
        # made by the child that writes them, when there is one (``RowCache.save``)
        return RowCache(self.path).save(
            stack, keyed.key, lambda: [_row_of(rs) for rs in states if rs is not None],
            share=share)

    def _keep_written(self, stack: str, prior: _Stored | None, rows: Rows,
                      written: list[tuple[str, str, bytes, int]]) -> _Stored | None:
        """The stored bytes of ``rows`` after a write, keyed, and the row cache left for
        them. Rows replaced in place (no address added or dropped) are rekeyed by the
        spans they fall in and go to the cache's delta: O(rows written). Otherwise the
        rows are keyed and kept whole, from the bytes this client read and wrote."""
        values = {w[1]: w[2] for w in written}
        at = _positions(prior.keyed.addresses, values) if prior is not None else None
        if prior is not None and at is not None and len(rows) == len(prior.keyed.addresses):
            keyed = prior.keyed.replaced({i: values[a] for a, i in at.items()})
            held = None
            if prior.held is not None:
                changed = {i: _known_row(rows, a) for a, i in at.items()}
                held = RowCache(self.path).advance(stack, prior.held, keyed.key, changed,
                                                   len(rows))
            return _Stored(keyed, held or self._keep_all(stack, keyed, rows))
        old = {} if prior is None else dict(zip(prior.keyed.addresses, prior.keyed.stored,
                                                strict=True))
        addresses = sorted(rows)  # the read's order (``_ROWS``; see ``row_cache_order``)
        try:
            stored = [values[a] if a in values else old[a] for a in addresses]
        except KeyError:
            return None  # bytes not known (never expected): the next read decodes
        keyed = Keyed.of(addresses, stored)
        return _Stored(keyed, self._keep_all(stack, keyed, rows))

    def _unchanged(self, stack: str, meta: Any) -> dict[ResourceId, ResourceState] | None:
        """The resources known at the stored (lineage, serial); None when this
        client does not know them."""
        with self._guard:
            known = self._known.get(stack)
        if known is None or (known.lineage, known.serial) != (meta[0], meta[1]):
            return None
        if known.states is not None:
            return known.states
        out: dict[ResourceId, ResourceState] = {}
        for rs, _stored in known.rows.values():  # the order they were read or written in
            if rs is None:
                return None
            out[rs.id] = rs
        return out

    def stored_rows(self, stack: str) -> Rows:
        """Each row this client last read or wrote for ``stack`` as stored, by address,
        with the state decoded from (or encoded to) it: the plan memo keys a row by its
        stored bytes (``plan.memo.stored_rows``). Empty when it knows none."""
        with self._guard:
            known = self._known.get(stack)
        return known.rows if known is not None else {}

    def _remember(self, stack: str, known: KnownRows, stored: _Stored | None) -> None:
        with self._guard:
            self._known[stack] = known
            if stored is None:
                self._stored.pop(stack, None)
            else:
                self._stored[stack] = stored

    def journaled(self, stack: str, rows: Iterable[Fresh]) -> None:
        """Remember the rows the journal just encoded and packed for these states
        (each with its address); the entry holds the state, so its id stays its own."""
        with self._guard:
            fresh = self._fresh.setdefault(stack, {})
            for row in rows:
                fresh[id(row[0])] = row

    def write(self, stack: str, snap: StateSnapshot) -> None:
        """Store ``snap`` if it follows the stored serial in the same lineage, and
        keep it as the newest of the stack's last ``history_kept`` snapshots."""
        outputs = encode(f"outputs of stack '{stack}'", dict(snap.outputs))
        with self._guard:
            fresh = self._fresh.pop(stack, {})
        with self._txn(immediate=True) as db:
            self.fence(db, stack, f"the write of serial {snap.serial}")
            meta = db.execute(
                "SELECT lineage, serial FROM stacks WHERE name = ?", (stack,)
            ).fetchone()
            _check_base(stack, meta, snap)
            prior, stored = self._prior_rows(db, stack, meta)
            rows, written, gone = self._new_rows(stack, snap, prior, fresh)
            # The row cache is left before the rows are stored: its forked writer then
            # runs while they are inserted and the commit syncs. Were the transaction
            # to fail, the cache would be keyed by bytes never stored: no read uses it.
            kept = self._keep_written(stack, stored, rows, written)
            self._store_rows(db, stack, snap.serial, prior, written, gone)
            db.execute(
                "INSERT OR REPLACE INTO stacks (name, lineage, serial, outputs) "
                "VALUES (?, ?, ?, ?)",
                (stack, snap.lineage, snap.serial, outputs),
            )
            self._keep_snapshot(db, stack, snap, outputs)
        with self._guard:
            self._missed.discard(stack)  # those rows are no longer stored
        self._remember(stack, KnownRows(snap.lineage, snap.serial, rows,
                                        shared_states(snap.resources)), kept)

    def _prior_rows(self, db: sqlite3.Connection, stack: str,
                    meta: Any) -> tuple[Rows, _Stored | None]:
        """The stored rows and their stored bytes: from memory when they are known to
        be current."""
        if meta is None:
            return {}, None
        with self._guard:
            known, stored = self._known.get(stack), self._stored.get(stack)
        if known is not None and (known.lineage, known.serial) == (meta[0], meta[1]):
            return known.rows, stored
        selected = db.execute(_ROWS, (stack,)).fetchall()
        try:
            for _, doc in selected:
                unpack(doc)  # a damaged row is reported here, as a read would
        except ValueError as exc:
            raise _damaged(self.path, stack, "row", exc) from None
        rows: Rows = {address: (None, doc) for address, doc in selected}
        return rows, _Stored(Keyed.of([a for a, _ in selected], [d for _, d in selected]),
                             None)

    def _new_rows(
        self, stack: str, snap: StateSnapshot, prior: Rows, fresh: dict[int, Fresh],
    ) -> tuple[Rows, list[tuple[str, str, bytes, int]], list[tuple[str, str]]]:
        """The rows of ``snap`` (packed), from ``prior`` where unchanged: all of them,
        those to write (stack, address, packed, serial; in address order) and those
        to delete (stack, address)."""
        rows: Rows = {}
        changed: list[tuple[str, str, bytes, int]] = []
        # Snapshots are immutable values: the very state we read or stored is
        # unchanged, so its row is taken as it is, its address not even formatted
        # (10,000 rows: ~5 ms). Found by identity, and only under its own id; the
        # map holds no new tuple, which would wake the cyclic collector.
        same = {id(entry[0]): address for address, entry in prior.items()}
        added = 0
        for rid, rs in snap.resources.items():
            address = same.get(id(rs))
            if address is not None and prior[address][0] is rs and rid == rs.id:
                rows[address] = prior[address]
                continue
            address, text, packed = _row_text(rid, rs, prior, fresh)
            before = prior.get(address)
            added += before is None
            if before is not None and (before[1] is packed or _same_row(before[1], text,
                                                                         packed)):
                rows[address] = (rs, before[1])
            else:
                # encoded here, or packed by the journal
                stored: bytes = pack(text) if text is not None else packed
                rows[address] = (rs, stored)
                changed.append((stack, address, stored, snap.serial))
        gone = [] if added == 0 and len(rows) == len(prior) else [
            (stack, a) for a in prior if a not in rows]
        # in key order: the table's B-tree then grows at its end instead of splitting
        # pages all over (10,000 new rows: ~10 ms less to insert, half the pages to commit)
        changed.sort(key=itemgetter(1))  # by address
        return rows, changed, gone

    def _store_rows(self, db: sqlite3.Connection, stack: str, serial: int, prior: Rows,
                    changed: list[tuple[str, str, bytes, int]],
                    gone: list[tuple[str, str]]) -> None:
        """Upsert the changed rows, delete the dropped ones. With history on, the rows
        replaced or dropped are kept as old versions."""
        if self.history_kept:
            replaced = [a for _, a in gone] + [c[1] for c in changed if c[1] in prior]
            self._keep_versions(db, stack, serial, replaced, prior)
        db.executemany("DELETE FROM resources WHERE stack = ? AND address = ?", gone)
        db.executemany(
            "INSERT OR REPLACE INTO resources (stack, address, doc, serial) "
            "VALUES (?, ?, ?, ?)", changed,
        )

    def _keep_versions(self, db: sqlite3.Connection, stack: str, serial: int,
                       replaced: list[str], prior: Rows) -> None:
        """Keep each replaced row as it was from the serial it was written at (born)
        up to ``serial`` (died), in compressed batches of ~20 rows."""
        if not replaced:
            return
        born = _born(db, stack, replaced)
        try:
            versions = [(a, int(born[a]), unpack(prior[a][1])) for a in sorted(replaced)
                        if a in born]
        except ValueError as exc:
            raise _damaged(self.path, stack, "row", exc) from None
        db.executemany(
            "INSERT OR REPLACE INTO snapshot_rows (stack, died, part, body) VALUES (?, ?, ?, ?)",
            [(stack, serial, part, body)
             for part, body in enumerate(pack_batches(versions))])

    def _keep_snapshot(self, db: sqlite3.Connection, stack: str, snap: StateSnapshot,
                       outputs: str) -> None:
        """Record serial ``snap.serial`` in the history and forget what fell out of it:
        snapshots older than the last ``history_kept`` and the row versions that only
        they needed. Serials of a stack grow by one, so the window is a serial range."""
        oldest = snap.serial - self.history_kept + 1
        if self.history_kept:
            db.execute(
                "INSERT OR REPLACE INTO snapshots (stack, serial, lineage, at, writer, "
                "resources, outputs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (stack, snap.serial, snap.lineage, time.time(), self._writer(db, stack),
                 len(snap.resources), pack(outputs)))
        db.execute("DELETE FROM snapshots WHERE stack = ? AND serial < ?", (stack, oldest))
        db.execute("DELETE FROM snapshot_rows WHERE stack = ? AND died <= ?", (stack, oldest))

    def _writer(self, db: sqlite3.Connection, stack: str) -> str:
        """Who writes: the holder of the lock we took (``who: operation``), else us."""
        with self._guard:
            held = self._held.get(stack)
        if held is not None:
            holder = self._holder(db, stack)
            if holder is not None and holder.id == held[0]:
                return f"{holder.who}: {holder.operation}"
        return f"{LockInfo.new('write').who}: write without a lock (pid {os.getpid()})"

    def forget_history(self, stack: str) -> None:
        """Drop every kept snapshot of ``stack`` but the current one, and all row
        versions (``state rekey``: they were sealed with the old key, or clear)."""
        with self._txn(immediate=True) as db:
            self.fence(db, stack, "dropping the kept snapshots")
            db.execute("DELETE FROM snapshots WHERE stack = ? AND serial < "
                       "(SELECT serial FROM stacks WHERE name = ?)", (stack, stack))
            db.execute("DELETE FROM snapshot_rows WHERE stack = ?", (stack,))
        self.reclaim()

    def history(self, stack: str) -> list[SnapshotInfo]:
        """The kept snapshots of ``stack``, newest first."""
        with self._txn() as db:
            rows = db.execute(
                "SELECT serial, at, resources, writer FROM snapshots WHERE stack = ? "
                "ORDER BY serial DESC", (stack,)).fetchall()
        return [SnapshotInfo(stack, int(s), float(at), int(n), str(w)) for s, at, n, w in rows]

    def snapshot(self, stack: str, serial: int) -> StateSnapshot:
        """The stack as it was at ``serial`` (one of ``history``), rebuilt from the live
        rows not written since and the row versions alive then; ``StateError`` when that
        serial is not kept."""
        with self._txn() as db:
            meta = db.execute(
                "SELECT lineage, outputs FROM snapshots WHERE stack = ? AND serial = ?",
                (stack, serial)).fetchone()
            if meta is None:
                kept = [r[0] for r in db.execute(
                    "SELECT serial FROM snapshots WHERE stack = ? ORDER BY serial", (stack,))]
                raise StateError(
                    f"stack '{stack}': serial {serial} is not among its kept snapshots "
                    f"({_ranges(kept) or 'none'})",
                    hint=f"list them: driftless state history --stack {stack}; keep more "
                         "with ?history=N on the sqlite state URL")
            stored: list[str | bytes] = [r[0] for r in db.execute(
                "SELECT doc FROM resources WHERE stack = ? AND serial <= ?", (stack, serial))]
            batches = [r[0] for r in db.execute(
                "SELECT body FROM snapshot_rows WHERE stack = ? AND died > ? "
                "ORDER BY died, part", (stack, serial))]
        try:
            # Each address has one version alive at ``serial``: born <= serial < died.
            stored += [text for batch in batches for _, born, text in unpack_batch(batch)
                       if born <= serial]
        except (ValueError, TypeError) as exc:
            raise _damaged(self.path, stack, f"snapshot of serial {serial}", exc) from None
        outputs, states = self._decode(stack, meta[1], stored, serial=serial)
        return StateSnapshot(str(meta[0]), serial, {rs.id: rs for rs in states}, outputs)

    # -- locks ---------------------------------------------------------------

    def lock(self, stack: str, info: LockInfo) -> str:
        """Take the lock, or an expired lease; else ``LockHeld``."""
        return self._acquire(stack, info, replacing=None)

    def take_over(self, stack: str, info: LockInfo, *, holder: LockInfo) -> str:
        """Take the lock from ``holder`` (a process known to be dead), only while
        the row still is that holder's: a compare-and-set, so of two takers one wins
        and the other gets ``LockHeld`` naming the winner."""
        return self._acquire(stack, info, replacing=holder)

    def _acquire(self, stack: str, info: LockInfo, *, replacing: LockInfo | None) -> str:
        token = os.urandom(16).hex()  # a fencing token, as uuid4().hex
        with self._txn(immediate=True) as db:
            current = self._holder(db, stack)
            if current is not None and not _takeable(current, info, replacing):
                raise LockHeld(stack, current)
            db.execute(
                "INSERT OR REPLACE INTO locks (stack, id, info, lease) VALUES (?, ?, ?, ?)",
                (stack, info.id, dumps({**info.to_json(), "token": token}),
                 max(0.0, info.expires - info.created)),
            )
        with self._guard:
            self._held[stack] = (info.id, token)
            self._begun.pop(stack, None)
        return info.id

    def _holder(self, db: sqlite3.Connection, stack: str) -> LockInfo | None:
        return self._row(db, stack)[0]

    def _row(self, db: sqlite3.Connection, stack: str) -> tuple[LockInfo | None, str | None]:
        """The holder and its fencing token (None for rows written before tokens)."""
        row = db.execute("SELECT info FROM locks WHERE stack = ?", (stack,)).fetchone()
        if row is None:
            return None, None
        doc = json.loads(row[0])
        return LockInfo.from_json(doc), doc.get("token")

    def _token(self, stack: str, lock_id: str) -> str | None:
        """Our token for ``lock_id`` when this instance took that lock."""
        with self._guard:
            held = self._held.get(stack)
        return held[1] if held is not None and held[0] == lock_id else None

    def fence(self, db: sqlite3.Connection, stack: str, doing: str,
              *, outcomes: Iterable[int] = ()) -> bool:
        """Inside a write transaction: refuse ``doing`` unless the lock we took on
        ``stack`` still holds our token. Without a lock of ours, anything goes.

        ``outcomes``: the journal seqs whose outcomes ``doing`` records. When all
        were begun by this client under its lock, they pass even after the lock
        was lost (returns True then: the caller must find each entry still
        unfinished). Their side effects happened; recording them keeps the next
        run from doing them again. Nothing new starts: the next intent is refused.
        """
        with self._guard:
            held = self._held.get(stack)
            begun = self._begun.get(stack, set())
        if held is None:
            return False
        current, token = self._row(db, stack)
        own = set(outcomes)
        if (current is None or token != held[1]) and own and own <= begun:
            return True
        if current is None or token != held[1]:
            now = "released" if current is None else f"held by {current.describe()}"
            raise StateError(
                f"lock lost: the lock on stack '{stack}' is {now}; {doing} was refused",
                hint="another process took the stack over after our lease ran out (or it "
                     "was force-unlocked); run plan again to see its state")
        return False

    def began(self, stack: str, seqs: Iterable[int]) -> None:
        """Remember journal seqs this client began while holding the stack's lock."""
        with self._guard:
            if stack in self._held:
                self._begun.setdefault(stack, set()).update(seqs)

    def renew(self, stack: str, lock_id: str) -> None:
        """Push our lease forward by its original length."""
        mine = self._token(stack, lock_id)
        with self._txn(immediate=True) as db:
            row = db.execute(
                "SELECT info, lease FROM locks WHERE stack = ?", (stack,)
            ).fetchone()
            doc: dict[str, Any] = {} if row is None else json.loads(row[0])
            current = LockInfo.from_json(doc) if doc else None
            if current is None or current.id != lock_id or mine not in (None, doc.get("token")):
                raise _not_ours(stack, current, doing="renew")
            renewed = current.renewed(lease=float(row[1]))
            db.execute(
                "UPDATE locks SET info = ? WHERE stack = ?",
                (dumps({**renewed.to_json(), "token": doc.get("token")}), stack),
            )

    def unlock(self, stack: str, lock_id: str, *, force: bool = False) -> None:
        """Release our lock (a no-op when nobody holds it); ``force`` any lock."""
        mine = self._token(stack, lock_id)
        with self._guard:
            if mine is not None:
                del self._held[stack]
                self._begun.pop(stack, None)
        with self._txn(immediate=True) as db:
            current, token = self._row(db, stack)
            if current is None:
                return
            ours = current.id == lock_id and mine in (None, token)
            if not ours and not force:
                raise _not_ours(stack, current, doing="unlock")
            db.execute("DELETE FROM locks WHERE stack = ?", (stack,))

    def lock_info(self, stack: str) -> LockInfo | None:
        """The current holder, expired or not."""
        with self._txn() as db:
            return self._holder(db, stack)

    def journal(self, stack: str) -> SQLiteJournal:
        """The stack's write-ahead journal."""
        return SQLiteJournal(self, stack)


def _takeable(current: LockInfo, info: LockInfo, replacing: LockInfo | None) -> bool:
    """Whether ``info`` may replace ``current``: ours already, expired, or the very
    holder the caller found dead (same id and start, so not a newer lock)."""
    if current.id == info.id or current.expired():
        return True
    return replacing is not None and (current.id, current.created, current.pid) == (
        replacing.id, replacing.created, replacing.pid)


def _damaged(path: Path, stack: str, what: str, exc: Exception) -> StateError:
    """A row that does not decode. Kept snapshots share the rows not written since,
    so they cannot stand in for a damaged one: a copy from ``state pull`` can."""
    return StateError(
        f"state database {path}: stack '{stack}' holds a damaged {what} ({exc})",
        hint=f"push back a copy saved with driftless state pull (driftless state push "
             f"{stack} FILE); kept snapshots share unchanged rows with the live state, so "
             "state restore cannot replace a damaged one")


def _ranges(serials: list[int]) -> str:
    """``3-12`` for a run of serials, ``none`` when empty."""
    if not serials:
        return ""
    return f"{serials[0]}-{serials[-1]}" if len(serials) > 1 else str(serials[0])


def _check_base(stack: str, meta: Any, snap: StateSnapshot) -> None:
    """Refuse a write that is not based on the stored serial and lineage.

    The serial is checked first: two runs that both created a new stack
    differ in lineage too, but "changed since it was read" is the truth.
    """
    lineage, serial = (snap.lineage, 0) if meta is None else (meta[0], int(meta[1]))
    if snap.serial != serial + 1:
        raise StateConflict(
            f"stack '{stack}': state changed since it was read "
            f"(serial {snap.serial - 1} → {serial}); refusing to write serial {snap.serial}",
            hint="another run wrote this stack; re-run plan and apply again",
        )
    if lineage != snap.lineage:
        raise StateConflict(
            f"stack '{stack}': refusing to write state of lineage {snap.lineage[:12]} "
            f"over state of lineage {lineage[:12]}; they are different states",
            hint="check the state URL points at this project's state; to replace it "
            "on purpose use driftless state push --force",
        )


def _not_ours(stack: str, current: LockInfo | None, *, doing: str) -> StateError:
    if current is None:
        return StateError(
            f"cannot {doing} the lock on stack '{stack}': it is not held (lease "
            "expired and released, or force-unlocked)",
            hint="take the lock again before changing this stack",
        )
    return StateError(
        f"cannot {doing} the lock on stack '{stack}': it is held by {current.describe()}",
        hint=f"wait for it to finish, or take it over: driftless state unlock {stack} --force",
    )


def _row_text(rid: ResourceId, rs: ResourceState, prior: Rows,
              fresh: dict[int, Fresh]) -> tuple[str, str | None, Any]:
    """The address of a state not found by identity, and its row: as stored (no
    text) when it is the same state under another key's address, packed (no text)
    when the journal packed it (those very bytes are stored), or else its JSON text,
    encoded here."""
    made = fresh.get(id(rs))
    if made is not None and made[0] is not rs:
        made = None
    address = str(rid) if made is None else made[1]
    before = prior.get(address)
    if before is not None and before[0] is rs:
        return address, None, before[1]
    if made is not None:
        return address, None, made[2]
    return address, encode(address, rs.to_json()), None


def _same_row(stored: str | bytes, text: str | None, packed: bytes | None) -> bool:
    """Whether the row stored as ``stored`` is the row of JSON ``text``, or of
    ``packed`` when there is no text: the same bytes, or the same text once
    inflated (a row an older version stored in clear). Two packings of one text
    that differ (another zlib) count as a change: the row is written again, which
    is harmless. A stored value that does not inflate is not the same row either."""
    if packed is not None and stored.__class__ is bytes:
        return stored == packed  # both packed here: other bytes are (almost surely) a change
    try:
        return unpack(stored) == (text if text is not None else unpack(packed or b""))
    except ValueError:
        return False


def _row_of(rs: ResourceState) -> Row:
    """A decoded row as the row cache keeps it: plain values only."""
    deps = rs.depends_on
    return (_parts(rs.id), _plain(rs.attributes), _plain(rs.private), _plain(rs.inputs),
            rs.protect, tuple([_parts(d) for d in deps]) if deps else ())


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as a dict marshal can keep, without copying one that already is."""
    return values if type(values) is dict else dict(values)


def _parts(rid: ResourceId) -> IdParts:
    """An id as the plain tuple marshal can keep."""
    return (rid.provider, rid.kind, rid.name, rid.index)


def _known_row(rows: Rows, address: str) -> Row:
    """The row cache's form of a row just written (its state is known)."""
    rs = rows[address][0]
    assert rs is not None  # every row of a write is the snapshot's state
    return _row_of(rs)


_UNKNOWN: tuple[None, None] = (None, None)  # a row not among those known
_new_id = ResourceId._make  # a plain tuple as an id, its length checked (no argument parsing)


def _states_of(rows: list[Row]) -> list[ResourceState]:
    """The states of cached rows."""
    return [ResourceState(_new_id(rid), attrs, private, inputs, bool(protect),
                          tuple([_new_id(d) for d in deps]) if deps else ())
            for rid, attrs, private, inputs, protect, deps in rows]


def _positions(addresses: list[str], values: Mapping[str, object]) -> dict[str, int] | None:
    """Where each address of ``values`` is in ``addresses`` (sorted, as a read selects
    them); None when one is not there (a row added)."""
    at: dict[str, int] = {}
    for address in values:
        i = bisect_left(addresses, address)
        if i == len(addresses) or addresses[i] != address:
            return None
        at[address] = i
    return at



def _born(db: sqlite3.Connection, stack: str, addresses: list[str]) -> dict[str, int]:
    """The serial each of ``addresses`` was written at (those stored): a few by their
    key, so a write of 10 rows of 10,000 does not select them all."""
    if len(addresses) > _LOOKED_UP:
        return dict(db.execute("SELECT address, serial FROM resources WHERE stack = ?",
                               (stack,)).fetchall())
    born: dict[str, int] = {}
    for address in addresses:
        row = db.execute("SELECT serial FROM resources WHERE stack = ? AND address = ?",
                         (stack, address)).fetchone()
        if row is not None:
            born[address] = row[0]
    return born


@record
class _Stored:
    """The stored bytes of a stack's known rows, keyed as the row cache keys them,
    and what the row cache files hold for those rows (None: nothing usable)."""

    keyed: Keyed
    held: Held | None
