"""``ssh:service``: ``local:service`` on a host reached over SSH.

The kind's properties, diff and config document are the local kind's
(``ServiceHandler`` is subclassed); what differs is where things happen. The
supervisor (``providers/local/supervise.py``, standard library only) is
copied into the service's directory on the host and started there, detached,
with the host's ``python3``, through the host helper; the helper also loads
``_svc_remote`` and answers everything about the running service on the
host: status and config files, liveness (pid plus start time), the health
probes (run on the host: ``127.0.0.1`` in a check is the host's loopback, and
the port-owner check reads the host's socket table), the graceful stop and
the log tail. Secrets in ``env`` travel on the helper's channel into the
supervisor's environment, never into a file or an argv.
I/O: the network, through ``SshHost`` / ``transport.Connection``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from driftless.errors import ProviderError
from driftless.health import HealthCheck, ProbeResult, assess, wait_healthy
from driftless.model import Change, Health, HealthCode, LiveResource, Resource, ResourceId
from driftless.model.redact import MASK, secret_texts
from driftless.providers.base import KindHandler
from driftless.providers.local.service import ServiceHandler, ServiceProps, _config_doc, _env_str
from driftless.providers.local.service_runtime import HealthProps, ServicePaths, live_from
from driftless.providers.ssh.host import SshHost
from driftless.providers.ssh.transport import SUPERVISE_SOURCE

__all__ = ["HANDLERS", "SshServiceHandler"]

_START_TIMEOUT = 15.0
_TAIL_LINES = 8
_TAIL_BYTES = 4096
SCRIPT = "supervise.py"
"""The supervisor's file name in the service's directory on the host."""


class _HostProbe:
    """Every configured probe, run on the host in one round trip."""

    def __init__(self, host: SshHost, paths: ServicePaths) -> None:
        self.host, self.paths = host, paths

    def describe(self) -> str:
        return f"checks on {self.host.name}"

    def check(self, *, timeout: float) -> ProbeResult:
        ok, message = self.host.conn.module_call(
            "probe", str(self.paths.config), str(self.paths.status), timeout, read_only=True)
        return ProbeResult(bool(ok), str(message))


class SshServiceHandler(ServiceHandler):
    """``local:service`` whose supervisor, files and checks live on an SSH host."""

    host: SshHost  # set per host by the ssh provider

    def _call(self, func: str, *args: Any, read_only: bool = False, retry: bool = True) -> Any:
        return self.host.conn.module_call(func, *args, read_only=read_only, retry=retry)

    def _paths(self, rid: ResourceId, props: ServiceProps) -> ServicePaths:
        if props.state_dir is None:  # the host's default, for its login user
            root = str(self._call("default_state_dir", read_only=True))
            props = props.model_copy(update={"state_dir": root})
        return ServicePaths.of(rid, props)

    def _snapshot(self, paths: ServicePaths) -> dict[str, Any]:
        snap: dict[str, Any] = self._call("snapshot", str(paths.status), str(paths.config),
                                          read_only=True)
        return snap

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The running service on the host, or None when its supervisor is gone."""
        paths = ServicePaths.from_private(prior.private) if prior else None
        paths = paths or self._paths(resource.id, self.parse(resource))
        return _live(resource.id, paths, self._snapshot(paths))

    def update(self, change: Change) -> LiveResource:
        """Restart exactly once: stop the running one, start the new spec."""
        paths = ServicePaths.from_private(change.prior.private) if change.prior else None
        if paths is not None:
            self._stop(paths)
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Stop it gracefully, then remove what was written in its directory on the
        host (config, status, the supervisor's copy, a log kept there) and the
        directory when that leaves it empty."""
        paths = ServicePaths.from_private(prior.private)
        if paths is None:
            return
        self._stop(paths)
        for path in (paths.config, paths.status, paths.log, paths.dir / SCRIPT):
            if path.parent == paths.dir:
                self.host.remove_quietly(str(path))
        with contextlib.suppress(OSError):  # not empty (something else lives there), or gone
            self.host.rmdir(str(paths.dir))

    def health(self, live: LiveResource) -> Health:
        """MISSING when gone, DEGRADED when crashing or failing checks (judged on the host)."""
        paths = ServicePaths.from_private(live.private)
        snap = self._snapshot(paths) if paths else None
        if paths is None or snap is None or not snap["alive"]:
            return Health(HealthCode.MISSING, f"{live.id} is not running")
        check = self._check(snap, paths)
        status = snap["status"] or {}
        started = _here(snap, status.get("child_started_at") or status.get("started_at"))
        return assess(check, started_at=started, alive=lambda: self._down(paths, None))

    def _stop(self, paths: ServicePaths) -> None:
        self._call("stop", str(paths.status), str(paths.config), retry=False)

    def _check(self, snap: dict[str, Any], paths: ServicePaths) -> HealthCheck:
        doc = ((snap.get("config") or {}).get("spec") or {}).get("__health")
        if not doc:
            return HealthCheck(grace_period=1.0)
        h = HealthProps.model_validate(doc)
        probes = (_HostProbe(self.host, paths),) if (h.http or h.tcp or h.command) else ()
        return HealthCheck(probes, h.grace_period, h.interval, h.timeout,
                           h.success_threshold, h.failure_threshold)

    def _down(self, paths: ServicePaths, first_child: Any) -> Health | None:
        snap = self._snapshot(paths)
        status = snap["status"]
        if status is None or not snap["alive"]:
            return Health(HealthCode.MISSING, "the service and its supervisor are gone")
        if snap["child_alive"] and (first_child is None or status.get("child_pid") == first_child):
            return None
        code = status.get("last_exit")
        if code is None and first_child is not None:
            return None  # the supervisor has not recorded the exit yet
        when = "while starting" if first_child is not None else \
            f"({status.get('restarts', 0)} restarts so far)"
        return Health(HealthCode.DEGRADED, f"the process exited with code {code} {when}")

    def _start(self, desired: Resource) -> LiveResource:
        props = self.parse(desired)
        rid = desired.id
        paths = self._paths(rid, props)
        self._prepare(rid, props, paths)
        self.host.write_atomic(str(paths.dir / SCRIPT), SUPERVISE_SOURCE.encode(), mode=0o600,
                               rid=rid)
        doc = json.dumps(_config_doc(desired, props, paths), sort_keys=True).encode()
        self.host.write_atomic(str(paths.config), doc, mode=0o600, rid=rid)
        env = {k: _env_str(v) for k, v in props.env.items()}
        self._call("launch", str(paths.dir / SCRIPT), str(paths.config), env, str(paths.dir),
                   retry=False)
        secrets = secret_texts(desired.properties)
        first = self._await_start(rid, paths, secrets)
        status = first["status"]
        check = self._check(first, paths)
        started = _here(first, status.get("child_started_at"))
        outcome = wait_healthy(check, started_at=started,
                               alive=lambda: self._down(paths, status.get("child_pid")))
        if outcome.code is not HealthCode.HEALTHY:
            tail = self._tail(paths.log, secrets)
            self._stop(paths)
            raise ProviderError(f"{outcome.message}{tail}", resource=rid,
                                hint=f"see the full log in {paths.log} on {self.host.name}")
        live = _live(rid, paths, self._snapshot(paths))
        if live is None:
            raise ProviderError("exited right after becoming healthy", resource=rid)
        return live

    def _prepare(self, rid: ResourceId, props: ServiceProps, paths: ServicePaths) -> None:
        if not props.argv():
            raise ProviderError("property 'command' is empty", resource=rid)
        if props.cwd and not self.host.isdir(props.cwd):
            raise ProviderError(f"cwd '{props.cwd}' is not a directory on {self.host.name}; "
                                "create it first (e.g. with a git_checkout it depends on)",
                                resource=rid)
        if props.env_file and not self.host.lexists(props.env_file):
            raise ProviderError(f"env_file '{props.env_file}' does not exist on "
                                f"{self.host.name}; add the env_file resource that writes it "
                                "to triggered_by", resource=rid)
        try:
            for d in (paths.dir, paths.log.parent):
                self.host.conn.call("makedirs", str(d))
            self.host.chmod(str(paths.dir), 0o700)
        except OSError as exc:
            raise ProviderError(f"cannot create the state directory {paths.dir} on "
                                f"{self.host.name}: {exc.strerror or exc}", resource=rid,
                                hint="set the service's state_dir to a writable path") from None
        self._stop(paths)  # an earlier run of ours in the same directory (state was lost)

    def _await_start(self, rid: ResourceId, paths: ServicePaths,
                     secrets: Collection[str]) -> dict[str, Any]:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            snap = self._snapshot(paths)
            state = (snap["status"] or {}).get("state")
            if state == "running":
                return snap
            if state in ("backoff", "exited"):
                tail = self._tail(paths.log, secrets)
                self._stop(paths)
                raise ProviderError(f"could not start{tail}", resource=rid)
            time.sleep(0.02)
        self._stop(paths)
        raise ProviderError(f"the supervisor did not start within {_START_TIMEOUT:g}s on "
                            f"{self.host.name}{self._tail(paths.log, secrets)}", resource=rid)

    def _tail(self, log: Path, secrets: Collection[str]) -> str:
        """The last log lines on the host, secrets masked before cutting (as locally)."""
        texts = tuple(sorted(secrets, key=len, reverse=True))
        margin = max((len(s.encode()) for s in texts), default=0)
        raw = base64.b64decode(self._call("tail", str(log), _TAIL_BYTES + margin,
                                          read_only=True))
        text = raw.decode(errors="replace")
        for secret in texts:
            text = text.replace(secret, MASK)
        lines = text.encode()[-_TAIL_BYTES:].decode(errors="ignore").splitlines()[-_TAIL_LINES:]
        if not lines:
            return ""
        return f"; last log lines ({log} on {self.host.name}):\n" + "\n".join(
            f"  | {line}" for line in lines)


def _here(snap: dict[str, Any], when: Any) -> float:
    """A time the host wrote, on this machine's clock (clocks may differ)."""
    if not isinstance(when, int | float):
        return time.time()
    return time.time() - (float(snap["now"]) - float(when))


def _live(rid: ResourceId, paths: ServicePaths, snap: dict[str, Any]) -> LiveResource | None:
    status, config = snap["status"], snap["config"]
    if status is None or not snap["alive"] or config is None:
        return None
    return live_from(rid, paths, status, config)


HANDLERS: dict[str, KindHandler] = {"service": SshServiceHandler()}
