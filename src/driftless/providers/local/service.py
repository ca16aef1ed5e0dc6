"""local provider kind ``service``: a supervised, health-checked process.

``create`` writes a supervisor config under the service's state directory,
starts a detached supervisor (``driftless.providers.local.supervise``) and
waits until the health check passes. ``read`` finds the supervisor through
its status file and trusts a pid only together with its start time.
``update`` (own spec changed, or ``triggered_by`` resources changed) restarts
it once; ``delete`` stops it gracefully. I/O: files in the state directory,
signals to our own processes, and the health probes.

Secrets in ``env`` reach the process only through its environment; state,
attributes and the config file keep their keyed digests. A failed start
quotes the last log lines with every secret of the resource masked. The talk with a
running supervisor (paths, waiting, health, stop) is in ``service_runtime``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftless.errors import ProviderError
from driftless.health import assess as assess_health
from driftless.health import wait_healthy
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
from driftless.model.redact import secret_texts
from driftless.providers.base import KindHandler, KindSpec, comparable, schema_problems
from driftless.providers.local import service_runtime as runtime
from driftless.providers.local import supervise
from driftless.providers.local._paths import AbsPath
from driftless.providers.local.service_runtime import (
    HealthProps,
    ServicePaths,
    default_state_dir,
)

# Re-exported: these moved to service_runtime and stay importable from here.
from driftless.providers.local.service_runtime import HttpCheckProps as HttpCheckProps
from driftless.providers.local.service_runtime import TcpCheckProps as TcpCheckProps
from driftless.providers.local.service_runtime import spec_digest as spec_digest

__all__ = ["HANDLERS", "ServiceHandler", "ServiceProps", "default_state_dir"]

_STRICT = ConfigDict(extra="forbid")


class ServiceProps(BaseModel):
    """Properties of ``local:service``."""

    model_config = _STRICT
    command: list[str] | str
    args: list[str] = []
    env: dict[str, str | int | float | bool] = {}
    env_file: AbsPath | None = None
    cwd: AbsPath | None = None
    restart: Literal["always", "on-failure", "never"] = "always"
    stop_timeout: float = Field(default=10.0, ge=0)
    log: AbsPath | None = None
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_backups: int = Field(default=3, ge=0)
    health: HealthProps | None = None
    state_dir: AbsPath | None = None

    def argv(self) -> list[str]:
        """The command line: ``command`` (split like a shell when a string) + ``args``."""
        base = shlex.split(self.command) if isinstance(self.command, str) else self.command
        return [*base, *self.args]


def spec_of(resource: Resource) -> dict[str, Any]:
    """The properties as state keeps them: secrets become keyed digests."""
    spec: dict[str, Any] = comparable(dict(resource.properties))
    return spec


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
        return runtime.live(resource.id, paths)

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
        """Restart exactly once: stop the running one (its log stays), start the new spec."""
        paths = ServicePaths.from_private(change.prior.private) if change.prior else None
        if paths is not None:
            runtime.stop(paths)
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Stop it gracefully (SIGTERM, stop_timeout, SIGKILL), then remove what the
        supervisor wrote in its directory (config, status, a log kept there) and the
        directory when that leaves it empty; gone is fine. A log the stack placed
        elsewhere (``log:``) is the operator's and stays."""
        paths = ServicePaths.from_private(prior.private)
        if paths is None:
            return
        runtime.stop(paths)
        for path in (paths.config, paths.status, paths.log):
            if path.parent == paths.dir:
                path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: something else lives there
            paths.dir.rmdir()

    def health(self, live: LiveResource) -> Health:
        """MISSING when gone, DEGRADED when crashing or failing checks."""
        paths = ServicePaths.from_private(live.private)
        status = supervise.load_status(paths.status) if paths else None
        if paths is None or status is None or not runtime.supervisor_alive(status):
            return Health(HealthCode.MISSING, f"{live.id} is not running")
        try:
            check, _ = runtime.health_check(paths)
        except (OSError, ValueError) as exc:
            return Health(HealthCode.UNKNOWN, f"cannot read {paths.config}: {exc}")
        started = float(status.get("child_started_at") or status.get("started_at") or 0.0)
        return assess_health(check, started_at=started, alive=lambda: runtime.down(paths, None))

    def _start(self, desired: Resource) -> LiveResource:
        props = self.parse(desired)
        paths = ServicePaths.of(desired.id, props)
        _prepare(desired.id, props, paths)
        supervise.write_json_atomic(paths.config, _config_doc(desired, props, paths))
        supervise.launch(paths.config, env=_env(props), cwd=paths.dir)
        secrets = secret_texts(desired.properties)  # env values, and inline in the command
        first = runtime.await_start(desired.id, paths, secrets)
        check, _ = runtime.health_check(paths)
        started = float(first.get("child_started_at") or time.time())
        outcome = wait_healthy(check, started_at=started,
                               alive=lambda: runtime.down(paths, first.get("child_pid")))
        if outcome.code is not HealthCode.HEALTHY:
            tail = runtime.log_tail(paths.log, secrets)
            runtime.stop(paths)
            raise ProviderError(f"{outcome.message}{tail}", resource=desired.id,
                                hint=f"see the full log in {paths.log}")
        live = runtime.live(desired.id, paths)
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
    runtime.stop(paths)  # an earlier run of ours in the same directory (e.g. state was lost)


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


HANDLERS: dict[str, KindHandler] = {"service": ServiceHandler()}
