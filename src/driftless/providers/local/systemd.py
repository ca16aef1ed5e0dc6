"""local provider kind ``systemd_unit``: a unit file, enabled and started by systemd.

Only where systemd is PID 1: ``create``/``update`` write
``<unit_dir>/<name>`` atomically, run ``systemctl daemon-reload``, enable or
disable it, and start, restart or stop it. Anywhere else they fail with an
error that points to ``local:service``, which supervises a process without
systemd. I/O: the unit file and ``systemctl``. ``render_unit`` is pure.

Secrets in ``environment`` are written into the unit (systemd needs them)
but attributes keep only the file's digest.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from driftless.errors import ProviderError
from driftless.model import Change, Health, HealthCode, LiveResource, Resource, ResourceId, reveal
from driftless.providers.base import KindHandler, KindSpec, diff_properties
from driftless.providers.local._paths import AbsPath, SystemdEnvFile

__all__ = ["HANDLERS", "SystemdUnitHandler", "UnitProps", "render_unit", "systemd_running"]

_UNIT_SUFFIXES = (".service", ".timer", ".socket", ".target", ".path", ".mount")


class UnitProps(BaseModel):
    """Properties of ``local:systemd_unit``: ``content`` or the structured form."""

    model_config = ConfigDict(extra="forbid")
    name: str
    content: str | None = None
    description: str | None = None
    exec_start: list[str] | str | None = None
    user: str | None = None
    group: str | None = None
    working_directory: AbsPath | None = None
    environment: dict[str, str | int | float | bool] = {}
    environment_file: SystemdEnvFile | None = None
    restart: str = "on-failure"
    after: list[str] = ["network-online.target"]
    wanted_by: str = "multi-user.target"
    enabled: bool = True
    state: Literal["started", "stopped"] = "started"
    unit_dir: AbsPath = "/etc/systemd/system"

    @model_validator(mode="after")
    def _one_form(self) -> UnitProps:
        if (self.content is None) == (self.exec_start is None):
            raise ValueError("give exactly one of 'content' (the unit text) or 'exec_start'")
        if "/" in self.name or not self.name:
            raise ValueError("'name' is a unit file name such as web.service, not a path")
        return self

    def unit_name(self) -> str:
        """The name with ``.service`` added when it has no unit suffix."""
        return self.name if self.name.endswith(_UNIT_SUFFIXES) else f"{self.name}.service"


def render_unit(props: UnitProps) -> str:
    """The unit file text: ``content`` as given, or rendered from the structured form."""
    if props.content is not None:
        return props.content if props.content.endswith("\n") else props.content + "\n"
    exec_start = props.exec_start or []
    command = exec_start if isinstance(exec_start, str) else shlex.join(exec_start)
    unit = [("Description", props.description or props.unit_name())]
    unit += [("After", a) for a in props.after] + [("Wants", a) for a in props.after]
    service = [("Type", "simple"), ("ExecStart", command), ("Restart", props.restart)]
    for key, value in (("User", props.user), ("Group", props.group),
                       ("WorkingDirectory", props.working_directory),
                       ("EnvironmentFile", props.environment_file)):
        if value:
            service.append((key, value))
    for key, raw in sorted(props.environment.items()):
        service.append(("Environment", _quote_env(key, raw)))
    sections = [("Unit", unit), ("Service", service), ("Install", [("WantedBy", props.wanted_by)])]
    return "\n".join(_section(title, body) for title, body in sections)


def _section(title: str, body: list[tuple[str, str]]) -> str:
    return f"[{title}]\n" + "".join(f"{k}={v}\n" for k, v in body)


def _quote_env(key: str, raw: str | int | float | bool) -> str:
    value = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{key}={escaped}"'


def systemd_running() -> bool:
    """Whether systemd is PID 1 (the check ``sd_booted()`` makes)."""
    return Path("/run/systemd/system").is_dir()


def _pid1() -> str:
    try:
        return Path("/proc/1/comm").read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class SystemdUnitHandler(KindHandler):
    """Write, enable and run a systemd unit."""

    spec: ClassVar[KindSpec] = KindSpec(
        name="systemd_unit",
        schema=UnitProps,
        description="a systemd unit file, reloaded, enabled and started (needs systemd as PID 1)",
        replace_on=frozenset({"name", "unit_dir"}),
        import_id="the unit name, e.g. web.service",
        attributes={"name": "unit name", "path": "unit file path",
                    "content_sha256": "digest of the unit text",
                    "enabled": "enabled at boot", "state": "started or stopped"},
        update_changes=frozenset({"content_sha256", "enabled", "state"}),
    )

    def parse(self, resource: Resource) -> UnitProps:
        """Validated properties (revealed: use, never print)."""
        return UnitProps.model_validate(reveal(dict(resource.properties)))

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The unit as installed, or None when its file is absent."""
        props = self.parse(resource)
        path = Path(props.unit_dir) / props.unit_name()
        if not path.is_file():
            return None
        return _live(resource.id, props, path)

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Compare the rendered text's digest, enablement and run state."""
        props = self.parse(desired)
        return diff_properties(self.spec, desired, live, compare={
            "name": props.unit_name(), "path": str(Path(props.unit_dir) / props.unit_name()),
            "content_sha256": _digest(render_unit(props)),
            "enabled": props.enabled, "state": props.state,
        })

    def create(self, change: Change) -> LiveResource:
        """Install the unit; restart it when it was already running."""
        assert change.desired is not None
        props = self.parse(change.desired)
        _require_systemd(change.id)
        path = Path(props.unit_dir) / props.unit_name()
        _write_atomic(path, render_unit(props))
        _systemctl(change.id, "daemon-reload")
        _systemctl(change.id, "enable" if props.enabled else "disable", props.unit_name())
        verb = "restart" if props.state == "started" else "stop"
        _systemctl(change.id, verb, props.unit_name())
        return _live(change.id, props, path)

    def update(self, change: Change) -> LiveResource:
        """Same as create: rewrite, reload, restart once."""
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Stop, disable and remove the unit; a missing file is fine."""
        path = Path(str(prior.attributes.get("path", "")))
        if not path.is_file():
            return
        name = str(prior.attributes.get("name", path.name))
        if systemd_running():
            _systemctl(prior.id, "disable", "--now", name)
        path.unlink()
        if systemd_running():
            _systemctl(prior.id, "daemon-reload")

    def health(self, live: LiveResource) -> Health:
        """From ``systemctl is-active``; UNKNOWN without systemd."""
        if not systemd_running():
            return Health(HealthCode.UNKNOWN, f"systemd is not PID 1 here ({_pid1()})")
        state = _is_active(str(live.attributes.get("name", "")))
        wanted = live.attributes.get("state", "started")
        if state == "active" or (state == "inactive" and wanted == "stopped"):
            return Health.healthy(state)
        code = {"activating": HealthCode.PROGRESSING, "reloading": HealthCode.PROGRESSING,
                "failed": HealthCode.DEGRADED}.get(state, HealthCode.MISSING)
        return Health(code, f"unit is {state}")


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _live(rid: ResourceId, props: UnitProps, path: Path) -> LiveResource:
    attributes: dict[str, Any] = {
        "name": props.unit_name(), "path": str(path),
        "content_sha256": _digest(path.read_text()),
        "enabled": props.enabled, "state": props.state,
    }
    if systemd_running():
        attributes["enabled"] = _query("is-enabled", props.unit_name()) == "enabled"
        attributes["state"] = "started" if _is_active(props.unit_name()) in (
            "active", "activating", "reloading") else "stopped"
    return LiveResource(rid, attributes, {})


def _require_systemd(rid: ResourceId) -> None:
    if not systemd_running():
        raise ProviderError(
            f"systemd is not running as PID 1 on this machine (PID 1 is '{_pid1()}'), "
            "so the unit cannot be installed or started; use local:service here",
            resource=rid,
            hint="use a local:service resource instead: it supervises the process itself "
                 "(restart policy, logs, health checks) without systemd",
        )


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.driftless.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _systemctl(rid: ResourceId, *args: str) -> None:
    exe = shutil.which("systemctl")
    if exe is None:
        raise ProviderError("systemctl not found on PATH", resource=rid)
    done = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ProviderError(f"systemctl {' '.join(args)} failed: "
                            f"{detail[-1] if detail else f'exit {done.returncode}'}",
                            resource=rid, hint="see: journalctl -xe")


def _query(*args: str) -> str:
    exe = shutil.which("systemctl") or "systemctl"
    done = subprocess.run([exe, *args], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _is_active(name: str) -> str:
    return _query("is-active", name) or "unknown"


HANDLERS: dict[str, KindHandler] = {"systemd_unit": SystemdUnitHandler()}
