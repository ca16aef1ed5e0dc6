"""Lock records: who holds a stack, doing what, until when."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

from driftless.records import record

__all__ = ["DEFAULT_LEASE", "LockInfo"]

DEFAULT_LEASE = 60.0


@record(slots=True)
class LockInfo:
    """A leased lock; it expires unless renewed by its holder."""

    id: str
    who: str
    operation: str
    created: float
    expires: float
    pid: int = 0

    @classmethod
    def new(cls, operation: str, *, lease: float = DEFAULT_LEASE) -> LockInfo:
        """A fresh lock for this process, ``user@host``."""
        now = time.time()
        # os.uname and os.urandom: what socket.gethostname and uuid4 give, without
        # importing either (every plan and apply takes a lock)
        who = f"{_user()}@{os.uname().nodename}"
        return cls(os.urandom(16).hex(), who, operation, now, now + lease, os.getpid())

    def renewed(self, *, lease: float = DEFAULT_LEASE) -> LockInfo:
        """The same lock with its lease pushed forward."""
        return replace(self, expires=time.time() + lease)

    def expired(self, now: float | None = None) -> bool:
        """Whether the lease ran out (the holder is presumed gone)."""
        return (now if now is not None else time.time()) >= self.expires

    def age_seconds(self) -> float:
        """Seconds since the lock was taken."""
        return time.time() - self.created

    def remaining_seconds(self) -> float:
        """Seconds until the lease ends (negative once expired)."""
        return self.expires - time.time()

    def describe(self) -> str:
        """``ci@runner-7 (apply, pid 4242)``."""
        return f"{self.who} ({self.operation}, pid {self.pid})"

    def to_json(self) -> dict[str, Any]:
        """JSON form stored by backends."""
        return {
            "id": self.id, "who": self.who, "operation": self.operation,
            "created": self.created, "expires": self.expires, "pid": self.pid,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LockInfo:
        """Inverse of ``to_json``."""
        return cls(
            str(doc["id"]), str(doc["who"]), str(doc["operation"]),
            float(doc["created"]), float(doc["expires"]), int(doc.get("pid", 0)),
        )


def _user() -> str:
    """The login name as ``getpass.getuser`` finds it: the first of LOGNAME, USER,
    LNAME and USERNAME that is set, else the password database. Not through getpass
    itself, which loads termios (~0.5 ms of every locking command's start)."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(name)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, OSError, ImportError):
        return f"uid{os.getuid()}"
