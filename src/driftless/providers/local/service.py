"""local provider kind ``service``: a supervised, health-checked process.

``create`` writes a supervisor config under the service's state directory,
starts a detached supervisor (``driftless.providers.local.supervise``) and
waits until the health check passes. ``read`` finds the supervisor through
its status file and trusts a pid only together with its start time.
``update`` (own spec changed, or ``triggered_by`` resources changed) restarts
it once; ``delete`` stops it gracefully. I/O: files in the state directory,
signals to our own processes, and the health probes.

Secrets in ``env`` reach the process only through its environment; state,
attributes and the config file keep their keyed digests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftless.errors import ProviderError
from driftless.health import CommandProbe, HealthCheck, HttpProbe, Probe, TcpProbe, wait_healthy
from driftless.health import assess as assess_health
from driftless.model import (
    Action,
    Change,
    FieldDiff,
    Health,
    HealthCode,
    LiveResource,
    Resource,
    ResourceId,
    contains_sensitive,
    contains_unknown,
    reveal,
)
from driftless.providers.base import KindHandler, KindSpec, comparable, schema_problems
from driftless.providers.local import supervise

__all__ = ["HANDLERS", "ServiceHandler", "ServiceProps", "default_state_dir"]

_STRICT = ConfigDict(extra="forbid")
_START_TIMEOUT = 15.0
_TAIL_LINES = 8


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


class ServiceProps(BaseModel):
    """Properties of ``local:service``."""

    model_config = _STRICT
    command: list[str] | str
    args: list[str] = []
    env: dict[str, str | int | float | bool] = {}
    env_file: str | None = None
    cwd: str | None = None
    restart: Literal["always", "on-failure", "never"] = "always"
    stop_timeout: float = Field(default=10.0, ge=0)
    log: str | None = None
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_backups: int = Field(default=3, ge=0)
    health: HealthProps | None = None
    state_dir: str | None = None

    def argv(self) -> list[str]:
        """The command line: ``command`` (split like a shell when a string) + ``args``."""
        base = shlex.split(self.command) if isinstance(self.command, str) else self.command
        return [*base, *self.args]


def default_state_dir() -> Path:
    """``/var/lib/driftless/services`` for root, else under ``$XDG_STATE_HOME``."""
    if os.geteuid() == 0:
        return Path("/var/lib/driftless/services")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "driftless" / "services"


@dataclass(frozen=True)
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


def spec_of(resource: Resource) -> dict[str, Any]:
    """The properties as state keeps them: secrets become keyed digests."""
    spec: dict[str, Any] = comparable(dict(resource.properties))
    return spec


def spec_digest(spec: dict[str, Any]) -> str:
    """A short, stable digest of the comparable spec."""
    raw = json.dumps(spec, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


class ServiceHandler(KindHandler):
    """Start, watch, restart and stop a supervised process."""

    spec: ClassVar[KindSpec] = KindSpec(
        name="service",
        schema=ServiceProps,
        description="a long-running process, supervised and health-checked, "
        "restarted when its spec or a triggered_by resource changes",
        import_id="the service's directory name under state_dir (its resource name)",
        attributes={
            "pid": "pid of the running process",
            "started_at": "when the process started (epoch seconds)",
            "command": "the command line run",
            "spec_digest": "digest of the properties (secrets as keyed digests)",
        },
    )

    def parse(self, resource: Resource) -> ServiceProps:
        """Validated properties (revealed: use, never print)."""
        try:
            return ServiceProps.model_validate(_revealed(resource))
        except ValidationError:
            problems = "; ".join(schema_problems(self.spec, resource.properties))
            raise ProviderError(f"invalid properties: {problems}", resource=resource.id) from None

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The running service, or None when its supervisor is gone."""
        paths = ServicePaths.from_private(prior.private) if prior else None
        paths = paths or ServicePaths.of(resource.id, self.parse(resource))
        return _live(resource.id, paths)

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Compare the spec key by key (maps per entry) with the running one's."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, reason="not running")
        running = live.private.get("spec", {})
        diffs = tuple(_diffs(desired.properties, comparable(dict(desired.properties)), running))
        if not diffs:
            return Change(desired.id, Action.NOOP, desired, live)
        names = ", ".join(d.path for d in diffs[:3]) + (" and more" if len(diffs) > 3 else "")
        return Change(desired.id, Action.UPDATE, desired, live, diffs,
                      reason=f"{names} changed; restarts the service")

    def create(self, change: Change) -> LiveResource:
        """Start it and wait until healthy; on failure stop it and raise."""
        assert change.desired is not None
        return self._start(change.desired)

    def update(self, change: Change) -> LiveResource:
        """Restart exactly once: stop the running one, start the new spec."""
        if change.prior is not None:
            self.delete(change.prior)
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Stop it gracefully (SIGTERM, stop_timeout, SIGKILL); gone is fine."""
        paths = ServicePaths.from_private(prior.private)
        if paths is not None:
            _stop(paths)

    def health(self, live: LiveResource) -> Health:
        """MISSING when gone, DEGRADED when crashing or failing checks."""
        paths = ServicePaths.from_private(live.private)
        status = supervise.load_status(paths.status) if paths else None
        if paths is None or status is None or not _supervisor_alive(status):
            return Health(HealthCode.MISSING, f"{live.id} is not running")
        try:
            check, _ = _health_check(paths)
        except (OSError, ValueError) as exc:
            return Health(HealthCode.UNKNOWN, f"cannot read {paths.config}: {exc}")
        started = float(status.get("child_started_at") or status.get("started_at") or 0.0)
        return assess_health(check, started_at=started, alive=lambda: _down(paths, None))

    def _start(self, desired: Resource) -> LiveResource:
        props = self.parse(desired)
        paths = ServicePaths.of(desired.id, props)
        _prepare(desired.id, props, paths)
        supervise.write_json_atomic(paths.config, _config_doc(desired, props, paths))
        supervise.launch(paths.config, env=_env(props), cwd=paths.dir)
        first = _await_start(desired.id, paths)
        check, _ = _health_check(paths)
        started = float(first.get("child_started_at") or time.time())
        outcome = wait_healthy(check, started_at=started,
                               alive=lambda: _down(paths, first.get("child_pid")))
        if outcome.code is not HealthCode.HEALTHY:
            tail = _log_tail(paths.log)
            _stop(paths)
            raise ProviderError(f"{outcome.message}{tail}", resource=desired.id,
                                hint=f"see the full log in {paths.log}")
        live = _live(desired.id, paths)
        if live is None:
            raise ProviderError("exited right after becoming healthy", resource=desired.id)
        return live


def _revealed(resource: Resource) -> dict[str, Any]:
    doc: dict[str, Any] = reveal(dict(resource.properties))
    return doc


def _diffs(raw: Any, wanted: dict[str, Any], running: dict[str, Any]) -> list[FieldDiff]:
    """Per-key diffs; one level into maps (``env.KEY``, ``health.http``)."""
    out: list[FieldDiff] = []
    for key in sorted(set(wanted) | set(running)):
        value, before = wanted.get(key), running.get(key)
        raw_value = raw.get(key)
        maps = [v for v in (value, before) if v is not None]
        if maps and all(isinstance(v, dict) for v in maps):
            out.extend(_map_diffs(f"{key}.", raw_value, value or {}, before or {}))
        elif contains_unknown(raw_value) or value != before:
            out.append(FieldDiff(key, before, raw_value, contains_sensitive(raw_value)))
    return out


def _map_diffs(prefix: str, raw: Any, wanted: dict[str, Any], running: dict[str, Any]
               ) -> list[FieldDiff]:
    out: list[FieldDiff] = []
    for key in sorted(set(wanted) | set(running)):
        raw_value = raw.get(key) if hasattr(raw, "get") else None
        if contains_unknown(raw_value) or wanted.get(key) != running.get(key):
            out.append(FieldDiff(f"{prefix}{key}", running.get(key), raw_value,
                                 contains_sensitive(raw_value)))
    return out


def _prepare(rid: ResourceId, props: ServiceProps, paths: ServicePaths) -> None:
    """Check what would make the start fail obscurely, and clear an old run."""
    argv = props.argv()
    if not argv:
        raise ProviderError("property 'command' is empty", resource=rid)
    if props.cwd and not Path(props.cwd).is_dir():
        raise ProviderError(f"cwd '{props.cwd}' is not a directory; create it first "
                            "(e.g. with a local:file or git_checkout it depends on)", resource=rid)
    if props.env_file and not Path(props.env_file).is_file():
        raise ProviderError(f"env_file '{props.env_file}' does not exist; add the local:env_file "
                            "resource that writes it to triggered_by", resource=rid)
    if shutil.which(argv[0], path=_env(props).get("PATH")) is None and not (
        props.cwd and (Path(props.cwd) / argv[0]).is_file()
    ):
        raise ProviderError(f"command '{argv[0]}' not found on PATH", resource=rid)
    try:
        paths.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths.log.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProviderError(f"cannot create the state directory {paths.dir}: "
                            f"{exc.strerror or exc}", resource=rid,
                            hint="set the service's state_dir to a writable path") from None
    _stop(paths)  # an earlier run of ours in the same directory (e.g. state was lost)


def _config_doc(desired: Resource, props: ServiceProps, paths: ServicePaths) -> dict[str, Any]:
    health = props.health.model_dump() if props.health else None
    return {
        "argv": props.argv(), "status": str(paths.status), "log": str(paths.log),
        "cwd": props.cwd, "env_file": props.env_file, "env_keys": sorted(props.env),
        "restart": props.restart, "stop_timeout": props.stop_timeout,
        "log_max_bytes": props.log_max_bytes, "log_backups": props.log_backups,
        "spec": {**spec_of(desired), "__health": health},
    }


def _env(props: ServiceProps) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: _env_str(v) for k, v in props.env.items()})
    return env


def _env_str(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _await_start(rid: ResourceId, paths: ServicePaths) -> dict[str, Any]:
    """The first status the supervisor writes once the child started (or failed to)."""
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        status = supervise.load_status(paths.status)
        if status and status.get("state") in ("running", "backoff", "exited"):
            if status.get("state") == "running":
                return status
            tail = _log_tail(paths.log)
            _stop(paths)
            raise ProviderError(f"could not start{tail}", resource=rid)
        time.sleep(0.02)
    _stop(paths)
    raise ProviderError(f"the supervisor did not start within {_START_TIMEOUT:g}s"
                        f"{_log_tail(paths.log)}", resource=rid)


def _health_check(paths: ServicePaths) -> tuple[HealthCheck, str | None]:
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
    if h.command:
        argv = shlex.split(h.command) if isinstance(h.command, str) else h.command
        probes.append(CommandProbe(tuple(argv), cwd=config.get("cwd")))
    check = HealthCheck(tuple(probes), h.grace_period, h.interval, h.timeout,
                        h.success_threshold, h.failure_threshold)
    return check, config.get("cwd")


def _supervisor_alive(status: dict[str, Any]) -> bool:
    return supervise.is_alive(status.get("supervisor_pid"), status.get("supervisor_create_time"))


def _down(paths: ServicePaths, first_child: Any) -> Health | None:
    """None while the process runs (and, when given, is still ``first_child``)."""
    status = supervise.load_status(paths.status)
    if status is None or not _supervisor_alive(status):
        return Health(HealthCode.MISSING, "the service and its supervisor are gone")
    child_ok = supervise.is_alive(status.get("child_pid"), status.get("child_create_time"))
    if child_ok and (first_child is None or status.get("child_pid") == first_child):
        return None
    code = status.get("last_exit")
    restarts = status.get("restarts", 0)
    when = "while starting" if first_child is not None else f"({restarts} restarts so far)"
    return Health(HealthCode.DEGRADED, f"the process exited with code {code} {when}")


def _live(rid: ResourceId, paths: ServicePaths) -> LiveResource | None:
    status = supervise.load_status(paths.status)
    if status is None or not _supervisor_alive(status):
        return None
    try:
        config = json.loads(paths.config.read_text())
    except (OSError, ValueError):
        return None
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


def _stop(paths: ServicePaths) -> None:
    status = supervise.load_status(paths.status)
    if status is None:
        return
    try:
        timeout = float(json.loads(paths.config.read_text()).get("stop_timeout", 10.0))
    except (OSError, ValueError):
        timeout = 10.0
    supervise.stop(status, stop_timeout=timeout)
    paths.status.unlink(missing_ok=True)


def _log_tail(log: Path) -> str:
    """The last lines of the log, indented, for an error message."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 4096))
            lines = fh.read().decode(errors="replace").splitlines()[-_TAIL_LINES:]
    except OSError:
        return ""
    if not lines:
        return ""
    return f"; last log lines ({log}):\n" + "\n".join(f"  | {line}" for line in lines)


HANDLERS: dict[str, KindHandler] = {"service": ServiceHandler()}
