"""local provider kind ``systemd_unit``: a unit file, enabled and started by systemd.

Only where systemd is PID 1: ``create``/``update`` write
``<unit_dir>/<name>`` atomically, run ``systemctl daemon-reload``, enable or
disable it, and start, restart or stop it. Anywhere else they fail with an
error that points to ``local:service``, which supervises a process without
systemd. I/O: the unit file and ``systemctl``, on ``self.host`` (``_host``).
``render_unit`` is pure.

Secrets in ``environment`` are written into the unit (systemd needs them)
but attributes keep only the file's digest.
"""

from __future__ import annotations

import hashlib
import shlex
import stat
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from driftless.errors import ProviderError
from driftless.model import Change, Health, HealthCode, LiveResource, Resource, ResourceId, reveal
from driftless.providers.base import KindHandler, KindSpec, diff_properties
from driftless.providers.local._host import LOCAL, Host, RunResult
from driftless.providers.local._paths import AbsPath, SystemdEnvFile

__all__ = ["HANDLERS", "SystemdUnitHandler", "UnitProps", "render_unit", "systemd_running"]

_SYSTEMCTL_TIMEOUT = 120.0
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


def systemd_running(host: Host = LOCAL) -> bool:
    """Whether systemd is PID 1 on ``host`` (the check ``sd_booted()`` makes)."""
    return host.isdir("/run/systemd/system")


def _pid1(host: Host) -> str:
    try:
        return host.read_bytes("/proc/1/comm").decode("utf-8", "replace").strip() or "unknown"
    except OSError:
        return "unknown"


class SystemdUnitHandler(KindHandler):
    """Write, enable and run a systemd unit on ``host`` (this machine by default)."""

    host: Host = LOCAL

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
        if not _is_file(self.host, path, resource.id):
            return None
        return _live(resource.id, props, path, self.host)

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
        host = self.host
        _require_systemd(change.id, host)
        path = Path(props.unit_dir) / props.unit_name()
        host.write_atomic(str(path), render_unit(props).encode(), mode=0o644, rid=change.id)
        _systemctl(change.id, host, "daemon-reload")
        _systemctl(change.id, host, "enable" if props.enabled else "disable", props.unit_name())
        verb = "restart" if props.state == "started" else "stop"
        _systemctl(change.id, host, verb, props.unit_name())
        return _live(change.id, props, path, host)

    def update(self, change: Change) -> LiveResource:
        """Same as create: rewrite, reload, restart once."""
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Stop, disable and remove the unit; a missing file is fine."""
        host = self.host
        path = Path(str(prior.attributes.get("path", "")))
        if not _is_file(host, path, prior.id):
            return
        name = str(prior.attributes.get("name", path.name))
        if systemd_running(host):
            _systemctl(prior.id, host, "disable", "--now", name)
        host.remove_quietly(str(path))
        if systemd_running(host):
            _systemctl(prior.id, host, "daemon-reload")

    def health(self, live: LiveResource) -> Health:
        """From ``systemctl is-active``; UNKNOWN without systemd."""
        if not systemd_running(self.host):
            return Health(HealthCode.UNKNOWN, f"systemd is not PID 1 here ({_pid1(self.host)})")
        state = _is_active(self.host, str(live.attributes.get("name", "")))
        wanted = live.attributes.get("state", "started")
        if state == "active" or (state == "inactive" and wanted == "stopped"):
            return Health.healthy(state)
        code = {"activating": HealthCode.PROGRESSING, "reloading": HealthCode.PROGRESSING,
                "failed": HealthCode.DEGRADED}.get(state, HealthCode.MISSING)
        return Health(code, f"unit is {state}")


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _is_file(host: Host, path: Path, rid: ResourceId) -> bool:
    st = host.lstat_or_none(str(path), rid)
    return st is not None and stat.S_ISREG(st.st_mode)


def _live(rid: ResourceId, props: UnitProps, path: Path, host: Host) -> LiveResource:
    attributes: dict[str, Any] = {
        "name": props.unit_name(), "path": str(path),
        "content_sha256": _digest(host.read_bytes(str(path)).decode("utf-8", "replace")),
        "enabled": props.enabled, "state": props.state,
    }
    if systemd_running(host):
        attributes["enabled"] = _query(host, "is-enabled", props.unit_name()) == "enabled"
        attributes["state"] = "started" if _is_active(host, props.unit_name()) in (
            "active", "activating", "reloading") else "stopped"
    return LiveResource(rid, attributes, {})


def _require_systemd(rid: ResourceId, host: Host) -> None:
    if not systemd_running(host):
        where = "this machine" if host is LOCAL else host.name
        raise ProviderError(
            f"systemd is not running as PID 1 on {where} (PID 1 is '{_pid1(host)}'), "
            "so the unit cannot be installed or started; use local:service here",
            resource=rid,
            hint="use a local:service resource instead: it supervises the process itself "
                 "(restart policy, logs, health checks) without systemd",
        )


def _run(host: Host, args: tuple[str, ...]) -> RunResult:
    return host.run(["systemctl", *args], cwd=None, env={}, timeout=_SYSTEMCTL_TIMEOUT)


def _systemctl(rid: ResourceId, host: Host, *args: str) -> None:
    try:
        done = _run(host, args)
    except FileNotFoundError:
        raise ProviderError("systemctl not found on PATH", resource=rid) from None
    if done.code != 0:
        text = (done.stderr or done.stdout).decode("utf-8", "replace")
        detail = text.strip().splitlines()
        raise ProviderError(f"systemctl {' '.join(args)} failed: "
                            f"{detail[-1] if detail else f'exit {done.code}'}",
                            resource=rid, hint="see: journalctl -xe")


def _query(host: Host, *args: str) -> str:
    try:
        return _run(host, args).stdout.decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _is_active(host: Host, name: str) -> str:
    return _query(host, "is-active", name) or "unknown"


HANDLERS: dict[str, KindHandler] = {"systemd_unit": SystemdUnitHandler()}
