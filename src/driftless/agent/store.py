"""The agent's own SQLite store: per-stack status, controls, history and resources.

I/O: one SQLite file (default ``<state-dir>/.driftless/agent.db``), separate
from the state database. Why its own file: status and history are written
on every reconcile and read by ``driftless status`` while the agent runs;
keeping them apart from state keeps state writes small and its locks short.

Two writers never touch the same row: the agent writes ``status`` and
``history``; the CLI and the HTTP API write ``controls`` (pin, suspend,
reconcile requests). Each thread keeps its own connection (WAL mode), so the
store is safe across threads and processes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from driftless.errors import StateError
from driftless.model import Condition, HistoryEntry
from driftless.records import record

__all__ = ["AgentStore", "Controls", "StackStatus", "default_store_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS status (stack TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS controls (
  stack TEXT PRIMARY KEY, pinned TEXT, suspended INTEGER NOT NULL DEFAULT 0,
  requested REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, stack TEXT NOT NULL, started REAL NOT NULL,
  doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_stack ON history (stack, id);
CREATE TABLE IF NOT EXISTS resources (stack TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""

HISTORY_KEEP = 200


# Added after the first release: opened stores gain them (ALTER TABLE).
_CONTROL_COLUMNS = (("request_trigger", "TEXT"), ("requested_by", "TEXT"))


def _add_columns(db: sqlite3.Connection, table: str,
                 columns: tuple[tuple[str, str], ...]) -> None:
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, kind in columns:
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def default_store_path(state_dir: Path) -> Path:
    """Where the agent keeps its store inside its state directory."""
    return state_dir / ".driftless" / "agent.db"


@record
class Controls:
    """What a human asked for: a pinned revision, suspension, a reconcile now."""

    pinned: str | None = None
    suspended: bool = False
    requested: float = 0.0
    request_trigger: str = "manual"  # "rollback" when the request is a rollback
    requested_by: str = ""  # who asked (a user name, or the API and its client)


@record
class StackStatus:
    """One stack as the agent last saw it (``driftless status`` reads this)."""

    stack: str
    source: str = ""
    sync: str = "Unknown"
    health: str = "Unknown"
    health_message: str = ""
    revision: str | None = None
    attempted: str | None = None
    digest: str = ""
    last_apply: float = 0.0
    message: str = ""
    conditions: tuple[Condition, ...] = ()
    last_healthy: str | None = None
    healthy_revisions: tuple[str, ...] = ()
    bad_revisions: tuple[str, ...] = ()
    stalled_revision: str | None = None
    resources: Mapping[str, int] = field(default_factory=dict)
    updated: float = 0.0
    controls: Controls = field(default_factory=Controls)

    @property
    def ready(self) -> bool:
        """Whether the Ready condition is true."""
        return any(c.type == "Ready" and c.status for c in self.conditions)

    @property
    def stalled(self) -> bool:
        """Whether the Stalled condition is true."""
        return any(c.type == "Stalled" and c.status for c in self.conditions)

    def to_json(self) -> dict[str, Any]:
        """JSON form for the API and ``status --json`` (contains no secrets)."""
        return {
            "stack": self.stack, "source": self.source, "sync": self.sync,
            "health": self.health, "health_message": self.health_message,
            "revision": self.revision, "attempted": self.attempted,
            "digest": self.digest, "last_apply": self.last_apply,
            "message": self.message,
            "conditions": [c.to_json() for c in self.conditions],
            "last_healthy": self.last_healthy,
            "healthy_revisions": list(self.healthy_revisions),
            "bad_revisions": list(self.bad_revisions),
            "stalled_revision": self.stalled_revision,
            "resources": dict(self.resources), "updated": self.updated,
            "pinned": self.controls.pinned, "suspended": self.controls.suspended,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], controls: Controls | None = None) -> StackStatus:
        """Inverse of ``to_json`` (controls come from their own table)."""
        conds = tuple(Condition(**c) for c in doc.get("conditions", ()))
        return cls(
            doc["stack"], doc.get("source", ""), doc.get("sync", "Unknown"),
            doc.get("health", "Unknown"), doc.get("health_message", ""),
            doc.get("revision"), doc.get("attempted"), doc.get("digest", ""),
            float(doc.get("last_apply", 0.0)), doc.get("message", ""), conds,
            doc.get("last_healthy"), tuple(doc.get("healthy_revisions", ())),
            tuple(doc.get("bad_revisions", ())),
            doc.get("stalled_revision"), dict(doc.get("resources", {})),
            float(doc.get("updated", 0.0)), controls or Controls(),
        )


class AgentStore:
    """Status, controls, history and metadata of one agent, in SQLite."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._conn() as db:
                db.executescript(_SCHEMA)
                _add_columns(db, "controls", _CONTROL_COLUMNS)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(
                f"cannot open the agent store {path}: {exc}",
                hint="check the --state-dir path and its permissions",
            ) from exc

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, kept open: closing the last connection to a WAL
        database checkpoints and removes the WAL file, which cost ~10 ms a call."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        with db:
            yield db

    def close(self) -> None:
        """Close this thread's connection (others close when their thread's store goes)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- status (agent-written) -------------------------------------------------

    def status(self, stack: str) -> StackStatus:
        """The stack's status; a blank ``Unknown`` one if never recorded."""
        with self._conn() as db:
            row = db.execute("SELECT doc FROM status WHERE stack=?", (stack,)).fetchone()
        controls = self.controls(stack)
        if row is None:
            return StackStatus(stack, controls=controls)
        return StackStatus.from_json(json.loads(row[0]), controls)

    def statuses(self) -> list[StackStatus]:
        """Every stack the agent knows or a human controls, sorted by name."""
        with self._conn() as db:
            docs = {r[0]: json.loads(r[1]) for r in db.execute("SELECT stack, doc FROM status")}
            names = {r[0] for r in db.execute("SELECT stack FROM controls")}
        out = []
        for name in sorted(set(docs) | names):
            ctl = self.controls(name)
            doc = docs.get(name)
            out.append(StackStatus.from_json(doc, ctl) if doc else StackStatus(name, controls=ctl))
        return out

    def put_status(self, status: StackStatus) -> None:
        """Record the stack's status (controls are not written here)."""
        doc = json.dumps(replace(status, updated=time.time()).to_json(), default=str)
        with self._conn() as db:
            db.execute("INSERT OR REPLACE INTO status (stack, doc) VALUES (?, ?)",
                       (status.stack, doc))

    # -- controls (human-written) -----------------------------------------------

    def controls(self, stack: str) -> Controls:
        """The stack's pin, suspension and pending reconcile request."""
        with self._conn() as db:
            row = db.execute(
                "SELECT pinned, suspended, requested, request_trigger, requested_by"
                " FROM controls WHERE stack=?", (stack,)
            ).fetchone()
        if row is None:
            return Controls()
        return Controls(row[0], bool(row[1]), float(row[2]), row[3] or "manual", row[4] or "")

    def set_controls(self, stack: str, **changes: Any) -> Controls:
        """Change some of ``pinned``, ``suspended``, ``requested``; returns the result."""
        current = replace(self.controls(stack), **changes)
        with self._conn() as db:
            db.execute(
                "INSERT OR REPLACE INTO controls (stack, pinned, suspended, requested,"
                " request_trigger, requested_by) VALUES (?, ?, ?, ?, ?, ?)",
                (stack, current.pinned, int(current.suspended), current.requested,
                 current.request_trigger, current.requested_by),
            )
        return current

    # -- history ----------------------------------------------------------------

    def add_history(self, entry: HistoryEntry) -> None:
        """Append one entry; keeps the newest ``HISTORY_KEEP`` per stack."""
        with self._conn() as db:
            db.execute("INSERT INTO history (stack, started, doc) VALUES (?, ?, ?)",
                       (entry.stack, entry.started, json.dumps(entry.to_json(), default=str)))
            db.execute(
                "DELETE FROM history WHERE stack=? AND id NOT IN "
                "(SELECT id FROM history WHERE stack=? ORDER BY id DESC LIMIT ?)",
                (entry.stack, entry.stack, HISTORY_KEEP),
            )

    def history(self, stack: str | None = None, *, limit: int = 20) -> list[HistoryEntry]:
        """Newest first; every stack when ``stack`` is None."""
        query = "SELECT doc FROM history"
        args: tuple[Any, ...] = ()
        if stack is not None:
            query, args = query + " WHERE stack=?", (stack,)
        with self._conn() as db:
            rows = db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [HistoryEntry.from_json(json.loads(r[0])) for r in rows]

    # -- resources (agent-written) ----------------------------------------------

    def put_resources(self, stack: str, resources: list[dict[str, Any]]) -> None:
        """Replace the stack's resource list (address, health, dependencies, file:line)."""
        with self._conn() as db:
            db.execute("INSERT OR REPLACE INTO resources (stack, doc) VALUES (?, ?)",
                       (stack, json.dumps(resources, default=str)))

    def resources(self, stack: str) -> list[dict[str, Any]]:
        """The stack's resources as of its last health check; empty if never checked."""
        with self._conn() as db:
            row = db.execute("SELECT doc FROM resources WHERE stack=?", (stack,)).fetchone()
        return [] if row is None else list(json.loads(row[0]))

    # -- meta -------------------------------------------------------------------

    def set_meta(self, **values: str | None) -> None:
        """Record agent facts (listen URL, pid); None deletes a key."""
        with self._conn() as db:
            for key, value in values.items():
                if value is None:
                    db.execute("DELETE FROM meta WHERE key=?", (key,))
                else:
                    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta(self, key: str) -> str | None:
        """One recorded fact, or None."""
        with self._conn() as db:
            row = db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])
