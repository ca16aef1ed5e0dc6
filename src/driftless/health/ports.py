"""Who holds a listening port: the check that a port answers for *this* service.

An HTTP or TCP probe on a local port passes for whichever process answers
there, so a stale server left over from an earlier run made a new service
look healthy while its own process had failed to bind. ``PortOwnerProbe``
passes only when a socket listening on the port belongs to the supervised
process or one of its descendants (a pre-forking server's workers, a shell
wrapper's child). I/O: reads the system's socket table and process tree
through psutil; it sends nothing over the network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

import psutil

from driftless.health.probes import ProbeResult
from driftless.records import record

__all__ = ["PortOwnerProbe", "local_port", "url_port"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def local_port(host: str | None, port: int | None) -> int | None:
    """``port`` when ``host`` is this machine's loopback; None for a remote host,
    whose sockets this machine cannot see."""
    if port is None or host is None:
        return None
    name = host.strip("[]").lower()
    if name == "localhost":
        return port
    try:
        return port if ipaddress.ip_address(name).is_loopback else None
    except ValueError:
        return None


def url_port(url: str) -> int | None:
    """The local port an ``http(s)://`` URL is served on, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a malformed port in the URL: the HTTP probe reports it
        return None
    return local_port(parts.hostname, port)


@record
class PortOwnerProbe:
    """Passes when a socket listening on ``port`` is ``owner()``'s or a descendant's.

    ``owner`` is asked on every attempt because a supervisor restarts its
    child under a new pid; it returns None while no child runs.
    """

    port: int
    owner: Callable[[], int | None]

    def describe(self) -> str:
        """``owner of port <port>``."""
        return f"owner of port {self.port}"

    def check(self, *, timeout: float) -> ProbeResult:
        """One look at the socket table; ``timeout`` is unused (nothing waits)."""
        pid = self.owner()
        family = _family(pid)
        ours = _family_listening(family, self.port)
        holders: list[int | None] = []
        if not ours:  # who holds it instead: the whole table, only when needed
            holders = _listeners(self.port)
            ours = family & {h for h in holders if h is not None}
        if ours:
            return ProbeResult(True, f"port {self.port} is held by this service "
                                     f"(pid {min(ours)})")
        return ProbeResult(False, self._refusal(pid, holders))

    def _refusal(self, pid: int | None, holders: list[int | None]) -> str:
        """Why not: nobody listens, or who does instead (as far as we may see)."""
        service = f"this service (pid {pid})" if pid else "this service (not running)"
        if not holders:
            return f"nothing listens on port {self.port}; {service} has not bound it"
        return f"port {self.port} is held by {_who(holders)}, not by {service}"


def _family_listening(family: set[int], port: int) -> set[int]:
    """The pids of ``family`` listening on ``port``, from each process's own sockets
    (a third of the cost of the whole table on a busy machine)."""
    found: set[int] = set()
    for pid in family:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        if any(_listens_on(conn, port) for conn in conns):
            found.add(pid)
    return found


def _listeners(port: int) -> list[int | None]:
    """Pids with a socket listening on ``port`` on a loopback or wildcard address
    (None for a process of another user, whose pid the kernel does not show)."""
    pids: list[int | None] = []
    for conn in psutil.net_connections(kind="inet"):
        if _listens_on(conn, port) and conn.pid not in pids:
            pids.append(conn.pid)
    return pids


def _listens_on(conn: psutil._common.sconn, port: int) -> bool:
    """A listening socket on ``port`` that a connect to loopback can reach."""
    return (conn.status == psutil.CONN_LISTEN and bool(conn.laddr)
            and conn.laddr.port == port and _reaches_loopback(conn.laddr.ip))


def _reaches_loopback(ip: str) -> bool:
    """Whether a connect to 127.0.0.1 or ::1 can land on a socket bound to ``ip``."""
    try:
        addr = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    addr = mapped or addr
    return addr.is_loopback or addr.is_unspecified


def _family(pid: int | None) -> set[int]:
    """``pid`` and every descendant still running (empty when it is gone)."""
    if not pid:
        return set()
    try:
        proc = psutil.Process(pid)
        return {pid, *(child.pid for child in proc.children(recursive=True))}
    except psutil.Error:
        return set()


def _who(holders: list[int | None]) -> str:
    """``pid 1234 (python3)``, naming the first process we are allowed to see."""
    for pid in holders:
        if pid is not None:
            return f"pid {pid} ({_name(pid)})"
    return "a process of another user (its pid is hidden)"


def _name(pid: int) -> str:
    """The process name, or ``?`` when it just exited."""
    try:
        return str(psutil.Process(pid).name())
    except psutil.Error:
        return "?"
