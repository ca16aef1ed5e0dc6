"""The running side of ``local:service``: where a service keeps its files, and
what the supervisor says about it.

Here live the service's paths (config, status, log under its state
directory), waiting for the supervisor to report the first start, the
health check rebuilt from the written config, "is it still up" for health
polling, the live read, a graceful stop and the log tail quoted in errors.
I/O: reads the supervisor's status, config and log files and signals our
own processes (through ``supervise``); the probes built here run later, in
``driftless.health``. ``service`` holds the kind handler and re-exports the
public names.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.health import (
    CommandProbe,
    HealthCheck,
    HttpProbe,
    PortOwnerProbe,
    Probe,
    TcpProbe,
    local_port,
    url_port,
)
from driftless.model import Health, HealthCode, LiveResource, ResourceId
from driftless.model.redact import MASK
from driftless.providers.local import supervise
from driftless.records import record

if TYPE_CHECKING:
    from driftless.providers.local.service import ServiceProps

__all__ = [
    "HealthProps", "HttpCheckProps", "ServicePaths", "TcpCheckProps", "await_start",
    "default_state_dir", "down", "health_check", "live", "log_tail", "spec_digest", "stop",
    "supervisor_alive",
]

_STRICT = ConfigDict(extra="forbid")
_START_TIMEOUT = 15.0
_TAIL_LINES = 8
_TAIL_BYTES = 4096


class HttpCheckProps(BaseModel):
    """``health.http``: GET url; optional exact status and body substring."""

    model_config = _STRICT
    url: str
    status: int | None = None
    contains: str | None = None


class TcpCheckProps(BaseModel):
    """``health.tcp``: connect to host:port."""

    model_config = _STRICT
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)


class HealthProps(BaseModel):
    """``health``: probes (all must pass) and their timing, in seconds."""

    model_config = _STRICT
    http: HttpCheckProps | None = None
    tcp: TcpCheckProps | None = None
    command: list[str] | str | None = None
    grace_period: float = Field(default=10.0, ge=0)
    interval: float = Field(default=1.0, gt=0)
    timeout: float = Field(default=2.0, gt=0)
    success_threshold: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=3, ge=1)
    # False when another process publishes the port for the service (docker-proxy).
    port_owner: bool = True


def default_state_dir() -> Path:
    """``/var/lib/driftless/services`` for root, else under ``$XDG_STATE_HOME``."""
    if os.geteuid() == 0:
        return Path("/var/lib/driftless/services")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "driftless" / "services"


@record
class ServicePaths:
    """Where one service keeps its config, status and log."""

    dir: Path
    config: Path
    status: Path
    log: Path

    @classmethod
    def of(cls, rid: ResourceId, props: ServiceProps) -> ServicePaths:
        """Paths for a resource: ``<state_dir>/<name>[-<index>]/``."""
        root = Path(props.state_dir).expanduser() if props.state_dir else default_state_dir()
        leaf = rid.name if rid.index is None else f"{rid.name}-{rid.index}"
        leaf = "".join(c if c.isalnum() or c in "._-" else "_" for c in leaf)
        d = root / leaf
        log = Path(props.log).expanduser() if props.log else d / "service.log"
        return cls(d, d / "supervisor.json", d / "status.json", log)

    @classmethod
    def from_private(cls, private: Any) -> ServicePaths | None:
        """Paths recorded in a live resource's private data."""
        doc = private.get("paths") if hasattr(private, "get") else None
        if not isinstance(doc, dict):
            return None
        return cls(*(Path(doc[k]) for k in ("dir", "config", "status", "log")))

    def to_json(self) -> dict[str, str]:
        """For ``LiveResource.private``."""
        return {"dir": str(self.dir), "config": str(self.config),
                "status": str(self.status), "log": str(self.log)}


def spec_digest(spec: dict[str, Any]) -> str:
    """A short, stable digest of the comparable spec."""
    raw = json.dumps(spec, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def await_start(rid: ResourceId, paths: ServicePaths,
                secrets: Collection[str] = ()) -> dict[str, Any]:
    """The first status the supervisor writes once the child started (or failed to).

    ``secrets`` are masked in the log lines a failure quotes.
    """
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        status = supervise.load_status(paths.status)
        if status and status.get("state") in ("running", "backoff", "exited"):
            if status.get("state") == "running":
                return status
            tail = log_tail(paths.log, secrets)
            stop(paths)
            raise ProviderError(f"could not start{tail}", resource=rid)
        time.sleep(0.02)
    stop(paths)
    raise ProviderError(f"the supervisor did not start within {_START_TIMEOUT:g}s"
                        f"{log_tail(paths.log, secrets)}", resource=rid)


def health_check(paths: ServicePaths) -> tuple[HealthCheck, str | None]:
    config = json.loads(paths.config.read_text())
    doc = config.get("spec", {}).get("__health")
    if not doc:
        return HealthCheck(grace_period=1.0), config.get("cwd")
    h = HealthProps.model_validate(doc)
    probes: list[Probe] = []
    if h.http:
        probes.append(HttpProbe(h.http.url, h.http.status, h.http.contains))
    if h.tcp:
        probes.append(TcpProbe(h.tcp.host, h.tcp.port))
    probes.extend(_owner_probes(h, paths))
    if h.command:
        argv = shlex.split(h.command) if isinstance(h.command, str) else h.command
        probes.append(CommandProbe(tuple(argv), cwd=config.get("cwd")))
    check = HealthCheck(tuple(probes), h.grace_period, h.interval, h.timeout,
                        h.success_threshold, h.failure_threshold)
    return check, config.get("cwd")


def _owner_probes(h: HealthProps, paths: ServicePaths) -> list[Probe]:
    """One ownership probe per local port checked: answering there is not enough,
    the listening socket must be the service's own (not a stale server's)."""
    if not h.port_owner:
        return []
    found = [url_port(h.http.url) if h.http else None,
             local_port(h.tcp.host, h.tcp.port) if h.tcp else None]
    ports = sorted({port for port in found if port is not None})
    return [PortOwnerProbe(port, lambda: _child_pid(paths)) for port in ports]


def _child_pid(paths: ServicePaths) -> int | None:
    """The supervised child's pid now (it changes on every restart)."""
    status = supervise.load_status(paths.status)
    pid = status.get("child_pid") if status else None
    return pid if isinstance(pid, int) else None


def supervisor_alive(status: dict[str, Any]) -> bool:
    return supervise.is_alive(status.get("supervisor_pid"), status.get("supervisor_create_time"))


def down(paths: ServicePaths, first_child: Any) -> Health | None:
    """None while the process runs (and, when given, is still ``first_child``)."""
    status = supervise.load_status(paths.status)
    if status is None or not supervisor_alive(status):
        return Health(HealthCode.MISSING, "the service and its supervisor are gone")
    child_ok = supervise.is_alive(status.get("child_pid"), status.get("child_create_time"))
    if child_ok and (first_child is None or status.get("child_pid") == first_child):
        return None
    code = status.get("last_exit")
    if code is None and first_child is not None:
        return None  # the supervisor has not recorded the exit yet: ask again shortly
    restarts = status.get("restarts", 0)
    when = "while starting" if first_child is not None else f"({restarts} restarts so far)"
    return Health(HealthCode.DEGRADED, f"the process exited with code {code} {when}")


def live(rid: ResourceId, paths: ServicePaths) -> LiveResource | None:
    status = supervise.load_status(paths.status)
    if status is None or not supervisor_alive(status):
        return None
    try:
        config = json.loads(paths.config.read_text())
    except (OSError, ValueError):
        return None
    return live_from(rid, paths, status, config)


def live_from(rid: ResourceId, paths: ServicePaths, status: Mapping[str, Any],
              config: Mapping[str, Any]) -> LiveResource:
    """The live view from a running supervisor's status and config, wherever they were
    read (here, or on a host over SSH)."""
    spec = {k: v for k, v in config.get("spec", {}).items() if k != "__health"}
    attributes = {
        "pid": status.get("child_pid"),
        "started_at": status.get("child_started_at") or status.get("started_at"),
        "command": config.get("argv", []),
        "spec_digest": spec_digest(spec),
    }
    private = {
        "create_time": status.get("child_create_time"),
        "supervisor_pid": status.get("supervisor_pid"),
        "supervisor_create_time": status.get("supervisor_create_time"),
        "paths": paths.to_json(),
        "spec": spec,
    }
    return LiveResource(rid, attributes, private)


def stop(paths: ServicePaths) -> None:
    status = supervise.load_status(paths.status)
    if status is None:
        return
    try:
        timeout = float(json.loads(paths.config.read_text()).get("stop_timeout", 10.0))
    except (OSError, ValueError):
        timeout = 10.0
    supervise.stop(status, stop_timeout=timeout)
    paths.status.unlink(missing_ok=True)


def log_tail(log: Path, secrets: Collection[str] = ()) -> str:
    """The last lines of the log, indented, for an error message; secrets masked.

    The window read is wider than the one quoted by the longest secret, and
    masking comes before cutting: a secret straddling the cut is still whole
    when it is masked, so no fragment of it is quoted.
    """
    texts = tuple(sorted(secrets, key=len, reverse=True))
    margin = max((len(s.encode()) for s in texts), default=0)
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - _TAIL_BYTES - margin))
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    for secret in texts:
        text = text.replace(secret, MASK)
    cut = text.encode()[-_TAIL_BYTES:].decode(errors="ignore")
    lines = cut.splitlines()[-_TAIL_LINES:]
    if not lines:
        return ""
    return f"; last log lines ({log}):\n" + "\n".join(f"  | {line}" for line in lines)
