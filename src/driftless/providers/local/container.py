"""local provider kind ``container``: one podman container, kept running.

driftless talks to podman through its CLI with ``--format json``, not the
REST socket: measured here (podman 4.3, runc), an inspect costs ~30 ms
through the CLI and ~1.5 ms over the socket with podman-py, and a whole
create/start/inspect/remove ~400 ms against ~250 ms. The socket needs a
long-running ``podman system service`` that something must supervise (no
systemd socket activation on these hosts) and pins a client/API version
pair; the CLI is always the installed podman's own. Plans read a handful of
containers, so robustness won (see docs/providers/containers.md).

The container carries two labels: ``driftless.resource`` (whose it is; a
container of that name without it is never touched) and ``driftless.spec``
(the properties as state keeps them, secrets as keyed digests), so a read
tells config drift apart without state. ``update`` — a spec change, a new
image behind the tag, or a ``triggered_by`` change — stops and recreates it
exactly once; a container stopped by hand is only started again. Secrets in
``env`` reach podman through a 0600 env file removed right after create,
never its command line. I/O: runs ``podman``; health probes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftless.errors import ProviderError
from driftless.health import (
    CommandProbe,
    HealthCheck,
    HttpProbe,
    Probe,
    TcpProbe,
    assess,
    wait_healthy,
)
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
from driftless.model.redact import Redactor
from driftless.providers.base import KindHandler, KindSpec, comparable, schema_problems
from driftless.providers.local._paths import AbsPath
from driftless.providers.local.service_runtime import HealthProps

__all__ = ["HANDLERS", "ContainerHandler", "ContainerProps"]

_STRICT = ConfigDict(extra="forbid")
LABEL_RESOURCE = "driftless.resource"
LABEL_SPEC = "driftless.spec"
_TIMEOUT = 300.0
_ENV_PREFIX = "driftless-container-env-"


class ContainerProps(BaseModel):
    """Properties of ``local:container``."""

    model_config = _STRICT
    image: str = Field(description="image reference; `name@sha256:...` pulls by digest")
    name: str | None = Field(default=None, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$",
                             description="container name (default driftless-<resource name>)")
    command: list[str] | str | None = Field(default=None, description="overrides the image's "
                                            "CMD (a string is split like a shell)")
    env: dict[str, str | int | float | bool] = Field(default={}, description="environment "
                                                     "(values may be sensitive)")
    env_file: AbsPath | None = Field(default=None, description="a KEY=value file on the host")
    ports: list[str] = Field(default=[], description="published ports, e.g. 127.0.0.1:8080:80")
    volumes: list[str] = Field(default=[], description="mounts, e.g. /srv/data:/data:ro")
    user: str | None = Field(default=None, description="user[:group] inside the container")
    restart: Literal["no", "always", "on-failure", "unless-stopped"] = Field(
        default="always", description="podman's restart policy")
    network: str | None = Field(default=None, description="podman --network (e.g. none)")
    health_cmd: list[str] | str | None = Field(default=None, description="a podman health "
                                               "check (used instead of the image's HEALTHCHECK)")
    health: HealthProps | None = Field(default=None, description="driftless health checks "
                                       "(http, tcp, command) run from the host")
    stop_timeout: int = Field(default=10, ge=0, description="seconds before SIGKILL on stop")
    start_timeout: float = Field(default=60.0, gt=0, description="seconds to become healthy")
    tls_verify: bool = Field(default=True, description="verify the registry's TLS on pull")

    def argv(self) -> list[str]:
        """The command, split like a shell when a string."""
        if self.command is None:
            return []
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)


def container_name(rid: ResourceId, props: ContainerProps) -> str:
    """The given name, or ``driftless-<resource name>`` made safe for podman."""
    if props.name:
        return props.name
    base = rid.name if rid.index is None else f"{rid.name}-{rid.index}"
    return "driftless-" + re.sub(r"[^a-zA-Z0-9_.-]+", "-", str(base)).strip("-")


def spec_of(resource: Resource) -> dict[str, Any]:
    """The properties as labels and state keep them: secrets as keyed digests."""
    spec: dict[str, Any] = comparable(dict(resource.properties))
    return spec


class Podman:
    """The podman CLI: each call bounded in time, errors with masked stderr."""

    def __init__(self, rid: ResourceId, redactor: Redactor | None = None) -> None:
        self.rid, self.redactor = rid, redactor or Redactor()

    def run(self, *args: str, check: bool = True,
            timeout: float = _TIMEOUT) -> subprocess.CompletedProcess[str]:
        """``podman ARGS``; a failure raises with the end of stderr."""
        try:
            proc = subprocess.run(["podman", *args], capture_output=True, text=True,
                                  timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise ProviderError("podman is not installed", resource=self.rid,
                                hint="install podman (apt-get install podman runc)") from None
        except subprocess.TimeoutExpired:
            raise ProviderError(f"podman {args[0]} timed out after {timeout:.0f}s",
                                resource=self.rid, retryable=True) from None
        if check and proc.returncode != 0:
            raise ProviderError(f"podman {args[0]} failed: {self.stderr(proc)}",
                                resource=self.rid)
        return proc

    def stderr(self, proc: subprocess.CompletedProcess[str]) -> str:
        """The last meaningful stderr lines, secrets masked (podman's systemd noise dropped)."""
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "systemd" not in ln]
        return self.redactor.text("\n".join(lines[-5:]).strip()) or f"exit {proc.returncode}"

    def inspect(self, name: str) -> dict[str, Any] | None:
        """The container's inspect document, or None when there is none."""
        proc = self.run("container", "inspect", "--format", "json", name, check=False)
        if proc.returncode != 0:
            if "no such" in proc.stderr.lower():
                return None
            raise ProviderError(f"podman inspect failed: {self.stderr(proc)}",
                                resource=self.rid, retryable=True)
        docs = json.loads(proc.stdout or "[]")
        return docs[0] if docs else None

    def image_id(self, image: str) -> str | None:
        """The local image ID of a reference, or None when it is not pulled."""
        proc = self.run("image", "inspect", "--format", "json", image, check=False)
        if proc.returncode != 0:
            return None
        docs = json.loads(proc.stdout or "[]")
        return str(docs[0]["Id"]) if docs else None

    def remove(self, name: str, stop_timeout: int) -> None:
        """Stop and remove; gone is fine."""
        proc = self.run("rm", "--force", "--time", str(stop_timeout), name, check=False)
        if proc.returncode != 0 and "no such" not in proc.stderr.lower():
            raise ProviderError(f"podman rm failed: {self.stderr(proc)}", resource=self.rid)


class ContainerHandler(KindHandler):
    """Create, watch, restart and remove a podman container."""

    spec: ClassVar[KindSpec] = KindSpec(
        name="container", schema=ContainerProps,
        description="a podman container, recreated once when its spec or image changes, "
        "started again when stopped by hand",
        import_id="the container's name",
        attributes={
            "container_id": "podman's container id",
            "name": "the container name",
            "image": "the image reference",
            "image_id": "the image the container runs (its id)",
            "state": "podman's state (running, exited, ...)",
            "spec_digest": "digest of the properties (secrets as keyed digests)",
        },
        update_changes=frozenset({"container_id", "image", "image_id", "state",
                                  "spec_digest"}))

    def parse(self, resource: Resource) -> ContainerProps:
        """Validated properties (revealed: use, never print)."""
        try:
            return ContainerProps.model_validate(reveal(dict(resource.properties)))
        except ValidationError:
            problems = "; ".join(schema_problems(self.spec, resource.properties))
            raise ProviderError(f"invalid properties: {problems}", resource=resource.id) from None

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The container by name, or None."""
        name = str(prior.private.get("name")) if prior and prior.private.get("name") else \
            container_name(resource.id, self.parse(resource))
        doc = Podman(resource.id).inspect(name)
        return None if doc is None else live_of(resource.id, doc)

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        """The container named ``import_id``."""
        doc = Podman(resource.id).inspect(import_id)
        return None if doc is None else live_of(resource.id, doc)

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Spec (per key, one level into env), image behind the reference, and running."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, reason="does not exist yet")
        diffs = _spec_diffs(desired.properties, spec_of(desired), live.private.get("spec") or {})
        if not contains_unknown(desired.properties.get("image")):
            now = Podman(desired.id).image_id(self.parse(desired).image)
            if now and live.attributes.get("image_id") and now != live.attributes["image_id"]:
                diffs.append(FieldDiff("image_id", live.attributes["image_id"], now))
        if diffs:
            names = ", ".join(d.path for d in diffs[:3]) + (" and more" if len(diffs) > 3 else "")
            return Change(desired.id, Action.UPDATE, desired, live, tuple(diffs),
                          reason=f"{names} changed; recreates the container")
        if live.attributes.get("state") != "running":
            return Change(desired.id, Action.UPDATE, desired, live, (FieldDiff(
                "state", live.attributes.get("state"), "running"),),
                reason="not running (stopped outside driftless); starts it")
        return Change(desired.id, Action.NOOP, desired, live)

    def create(self, change: Change) -> LiveResource:
        """Pull if needed, create, start, wait until healthy."""
        assert change.desired is not None
        desired = change.desired
        props = self.parse(desired)
        podman = Podman(desired.id, Redactor(desired.properties))
        name = container_name(desired.id, props)
        _clear_name(podman, name, desired.id)
        _pull(podman, props)
        _create(podman, desired, props, name)
        return self._start(podman, desired, props, name)

    def update(self, change: Change) -> LiveResource:
        """Start a stopped one; otherwise stop and recreate it, once."""
        assert change.desired is not None
        if change.prior is not None and [d.path for d in change.diffs] == ["state"]:
            props = self.parse(change.desired)
            podman = Podman(change.id, Redactor(change.desired.properties))
            name = str(change.prior.private.get("name") or container_name(change.id, props))
            return self._start(podman, change.desired, props, name)
        if change.prior is not None:
            self.delete(change.prior)
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Stop and remove it, if it is ours; gone is fine."""
        name = str(prior.private.get("name") or prior.attributes.get("name") or "")
        if not name:
            return
        podman = Podman(prior.id)
        doc = podman.inspect(name)
        if doc is None:
            return
        if _labels(doc).get(LABEL_RESOURCE) != str(prior.id):
            raise ProviderError(f"container '{name}' is not managed by driftless (no "
                                f"{LABEL_RESOURCE} label of this resource); not removing it",
                                resource=prior.id)
        podman.remove(name, int((prior.private.get("spec") or {}).get("stop_timeout", 10)))

    def health(self, live: LiveResource) -> Health:
        """MISSING when gone or stopped; then the podman/driftless checks."""
        name = str(live.private.get("name") or "")
        doc = Podman(live.id).inspect(name) if name else None
        if doc is None:
            return Health(HealthCode.MISSING, f"{live.id}: container '{name}' does not exist")
        check = _health_check(name, doc, live.private.get("spec") or {})
        return assess(check, started_at=_started_at(doc), alive=lambda: _down(live.id, name))

    def cleanup(self, resource: Resource) -> list[str]:
        """Env files a killed create left behind (they may hold secrets)."""
        name = container_name(resource.id, self.parse(resource))
        removed = []
        for path in Path(tempfile.gettempdir()).glob(f"{_ENV_PREFIX}{name}.*"):
            path.unlink(missing_ok=True)
            removed.append(str(path))
        return removed

    def _start(self, podman: Podman, desired: Resource, props: ContainerProps,
               name: str) -> LiveResource:
        podman.run("start", name)
        doc = podman.inspect(name)
        if doc is None:
            raise ProviderError(f"container '{name}' vanished right after start",
                                resource=desired.id)
        check = _health_check(name, doc, spec_of(desired), timeout=props.start_timeout)
        outcome = wait_healthy(check, started_at=_started_at(doc),
                               alive=lambda: _down(desired.id, name))
        if outcome.code is not HealthCode.HEALTHY:
            logs = podman.run("logs", "--tail", "20", name, check=False)
            tail = podman.redactor.text((logs.stdout + logs.stderr).strip()[-2000:])
            podman.remove(name, 0)
            raise ProviderError(f"container '{name}' did not become healthy: {outcome.message}"
                                + (f"\n  last output:\n  {tail}" if tail else ""),
                                resource=desired.id)
        final = podman.inspect(name)
        if final is None:
            raise ProviderError(f"container '{name}' exited right after becoming healthy",
                                resource=desired.id)
        return live_of(desired.id, final)


def live_of(rid: ResourceId, doc: Mapping[str, Any]) -> LiveResource:
    """Attributes and private data from an inspect document."""
    labels = _labels(doc)
    spec = _decoded_spec(labels.get(LABEL_SPEC))
    name = str(doc.get("Name", "")).lstrip("/")
    return LiveResource(rid, {
        "container_id": str(doc.get("Id", "")), "name": name,
        "image": str(doc.get("ImageName") or (spec or {}).get("image") or ""),
        "image_id": str(doc.get("Image", "")),
        "state": str((doc.get("State") or {}).get("Status", "unknown")),
        "spec_digest": _digest(spec) if spec is not None else "",
    }, {"name": name, "spec": spec or {}, "managed": labels.get(LABEL_RESOURCE) == str(rid)})


def _labels(doc: Mapping[str, Any]) -> dict[str, str]:
    return dict((doc.get("Config") or {}).get("Labels") or {})


def _decoded_spec(text: str | None) -> dict[str, Any] | None:
    try:
        found = json.loads(text) if text else None
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _digest(spec: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _spec_diffs(raw: Mapping[str, Any], wanted: dict[str, Any],
                running: dict[str, Any]) -> list[FieldDiff]:
    """Per-key diffs of the spec; ``env`` per variable (secrets shown as sensitive)."""
    out: list[FieldDiff] = []
    for key in sorted(set(wanted) | set(running)):
        value, before, raw_value = wanted.get(key), running.get(key), raw.get(key)
        if key == "env" and isinstance(value or {}, dict) and isinstance(before or {}, dict):
            for var in sorted(set(value or {}) | set(before or {})):
                now = (raw_value or {}).get(var)
                if contains_unknown(now) or (value or {}).get(var) != (before or {}).get(var):
                    out.append(FieldDiff(f"env.{var}", (before or {}).get(var), now,
                                         contains_sensitive(now)))
        elif contains_unknown(raw_value) or value != before:
            out.append(FieldDiff(key, before, raw_value, contains_sensitive(raw_value)))
    return out


def _clear_name(podman: Podman, name: str, rid: ResourceId) -> None:
    """A leftover of ours under the name is removed; anyone else's is an error."""
    doc = podman.inspect(name)
    if doc is None:
        return
    if _labels(doc).get(LABEL_RESOURCE) != str(rid):
        raise ProviderError(f"a container named '{name}' exists and is not this resource's",
                            resource=rid, hint="remove it, or give the resource another name")
    podman.remove(name, 0)


def _pull(podman: Podman, props: ContainerProps) -> None:
    if podman.image_id(props.image) is not None:
        return
    podman.run("pull", "--quiet", f"--tls-verify={'true' if props.tls_verify else 'false'}",
               props.image)


def _create(podman: Podman, desired: Resource, props: ContainerProps, name: str) -> None:
    """``podman create`` with secrets only in a 0600 env file, removed afterwards."""
    argv = ["create", "--name", name, "--label", f"{LABEL_RESOURCE}={desired.id}",
            "--label", f"{LABEL_SPEC}={json.dumps(spec_of(desired), sort_keys=True)}",
            "--restart", props.restart, "--stop-timeout", str(props.stop_timeout)]
    if props.env_file:
        argv += ["--env-file", props.env_file]
    for port in props.ports:
        argv += ["--publish", port]
    for volume in props.volumes:
        argv += ["--volume", volume]
    if props.user:
        argv += ["--user", props.user]
    if props.network:
        argv += ["--network", props.network]
    if props.health_cmd:
        cmd = props.health_cmd
        argv += ["--health-cmd", json.dumps(cmd) if isinstance(cmd, list) else cmd]
    fd, env_path = tempfile.mkstemp(prefix=f"{_ENV_PREFIX}{name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.writelines(f"{k}={_env_str(v)}\n" for k, v in sorted(props.env.items()))
        argv += ["--env-file", env_path, props.image, *props.argv()]
        podman.run(*argv)
    finally:
        Path(env_path).unlink(missing_ok=True)


def _env_str(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).replace("\n", "\\n")


def _health_check(name: str, doc: Mapping[str, Any], spec: Mapping[str, Any],
                  *, timeout: float | None = None) -> HealthCheck:
    """The container's podman health check (image HEALTHCHECK or ``health_cmd``) and the
    driftless checks of ``health``; all must pass."""
    probes: list[Probe] = []
    if (doc.get("Config") or {}).get("Healthcheck"):
        probes.append(CommandProbe(("podman", "healthcheck", "run", name)))
    props = _health_props(spec.get("health"))
    if props is not None:
        probes.extend(_driftless_probes(props))
    grace = props.grace_period if props else (timeout or 10.0)
    if timeout is not None and probes:
        grace = max(grace, timeout)
    return HealthCheck(tuple(probes), grace_period=grace if probes else 1.0,
                       interval=props.interval if props else 0.5,
                       timeout=props.timeout if props else 10.0,
                       success_threshold=props.success_threshold if props else 1,
                       failure_threshold=props.failure_threshold if props else 3)


def _health_props(doc: Any) -> HealthProps | None:
    if not isinstance(doc, Mapping):
        return None
    try:
        return HealthProps.model_validate(doc)
    except ValidationError:
        return None


def _driftless_probes(props: HealthProps) -> Sequence[Probe]:
    probes: list[Probe] = []
    if props.http:
        probes.append(HttpProbe(props.http.url, props.http.status, props.http.contains))
    if props.tcp:
        probes.append(TcpProbe(props.tcp.host, props.tcp.port))
    if props.command:
        cmd = props.command
        probes.append(CommandProbe(tuple(shlex.split(cmd) if isinstance(cmd, str) else cmd)))
    return probes


def _started_at(doc: Mapping[str, Any]) -> float:
    text = str((doc.get("State") or {}).get("StartedAt") or "")
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", text)
    if not match:
        return time.time()
    stamp = dt.datetime.fromisoformat(match.group(1)).replace(tzinfo=dt.UTC)
    return stamp.timestamp() + float(match.group(2) or 0.0)


def _down(rid: ResourceId, name: str) -> Health | None:
    """None while running; else why not."""
    doc = Podman(rid).inspect(name)
    if doc is None:
        return Health(HealthCode.MISSING, f"container '{name}' is gone")
    state = doc.get("State") or {}
    if state.get("Status") != "running":
        return Health(HealthCode.DEGRADED, f"container '{name}' is {state.get('Status')} "
                      f"(exit code {state.get('ExitCode')})")
    return None


HANDLERS: dict[str, KindHandler] = {"container": ContainerHandler()}
