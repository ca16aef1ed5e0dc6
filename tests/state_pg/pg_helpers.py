"""Start and stop a real PostgreSQL server on loopback (used by conftest's fixture).

``running_server``: ``initdb`` into a temp dir
and ``postgres`` on a free 127.0.0.1 port, both as the ``postgres`` user when
the tests run as root (PostgreSQL refuses to run as root), with durability
off because the data is thrown away. ``scripts/test-deps.sh`` installs
PostgreSQL; a machine without it fails here with that hint instead of skipping.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from servers import free_port

# A role that must log in with a password over TCP (every other login is
# trusted), so tests can see what an authentication failure looks like.
PASSWORD_USER = "pwuser"
PASSWORD = "s3cret-Pa55word"

_HBA = f"""\
local all all trust
host all {PASSWORD_USER} 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
"""


@dataclass(frozen=True)
class PgServer:
    """Where the session's server listens."""

    host: str
    port: int

    def url(self, *, schema: str | None = None, user: str = "postgres",
            db: str = "postgres") -> str:
        """A ``postgres://`` state URL on this server."""
        query = f"?schema={schema}" if schema else ""
        return f"postgres://{user}@{self.host}:{self.port}/{db}{query}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection (autocommit) for checking what the backend stored."""
        return psycopg.connect(host=self.host, port=self.port, user="postgres",
                               dbname="postgres", autocommit=True)


def _binaries() -> Path:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); "
                    "run `sudo bash scripts/test-deps.sh` (make test does)", pytrace=False)
    return Path(found[-1]).parent


def _as_postgres(*, die_with_us: bool = False) -> list[str]:
    """The ``setpriv`` prefix that drops root to the postgres user.

    ``setpriv`` execs the server itself, so our child's pid is the postmaster's
    and a signal reaches it directly (``runuser`` would swallow SIGINT).
    ``die_with_us`` sends the server SIGINT (a fast shutdown) when this process
    dies without running the fixture's teardown (killed, or a broken pipe).
    """
    prefix = ["setpriv", "--pdeathsig", "INT"] if die_with_us else ["setpriv"]
    if os.getuid() != 0:
        return prefix if die_with_us else []
    return [*prefix, "--reuid=postgres", "--regid=postgres", "--init-groups"]


def _initdb(bindir: Path, data: Path) -> None:
    subprocess.run(
        [*_as_postgres(), str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
         "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        check=True, capture_output=True,
    )
    (data / "pg_hba.conf").write_text(_HBA)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"postgres exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                            connect_timeout=1).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.05)
    pytest.fail(f"postgres did not accept connections within {timeout}s; see {log}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients to leave)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _add_password_role(server: PgServer) -> None:
    with server.admin() as db:
        db.execute(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'")
        db.execute(f"GRANT CREATE ON DATABASE postgres TO {PASSWORD_USER}")


@contextmanager
def running_server() -> Iterator[PgServer]:
    """A PostgreSQL server: started, yielded, then stopped and its files deleted."""
    bindir = _binaries()
    # Not under pytest's tmp dir: that is 0700 root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="driftless-pg-"))
    if os.getuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, log, port = base / "data", base / "postgres.log", free_port()
    try:
        _initdb(bindir, data)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*_as_postgres(die_with_us=True), str(bindir / "postgres"), "-D", str(data),
                 "-k", str(base), "-p", str(port), "-c", "listen_addresses=127.0.0.1", "-F",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
                stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(proc, port, log, timeout=30.0)
            server = PgServer("127.0.0.1", port)
            _add_password_role(server)
            yield server
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(base, ignore_errors=True)
