"""local provider kind ``command``: run a command once, and again when it should.

I/O: child processes (each in its own process group, killed as a group on
timeout) and ``stat`` of the ``creates`` path, on ``self.host`` (``_host``).
A command has no live object of its own: its record is what the last run
did. It runs at create, re-runs when
``command``/``cwd``/``env``/``triggers`` change or when a resource in
``triggered_by`` changed, and is skipped by its guards (``creates``,
``unless``, ``onlyif``). Every secret of the resource (in ``env``, or inline
in the command text) is masked in the whole output before the tails kept in
attributes and quoted in errors are cut from it, so a secret that straddles
the cut leaves no fragment behind.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import (
    Action,
    Change,
    FieldDiff,
    LiveResource,
    Resource,
    ResourceId,
    Sensitive,
)
from driftless.model.redact import Redactor, secret_texts
from driftless.providers.base import KindHandler, KindSpec, comparable, diff_properties
from driftless.providers.local._host import LOCAL, Host
from driftless.providers.local._paths import AbsPath
from driftless.records import record

__all__ = ["HANDLERS", "CommandResult", "run_command"]

TAIL_LINES = 20
TAIL_BYTES = 4096

Cmd = str | list[str]


class CommandProps(BaseModel):
    """Properties of ``local:command``."""

    model_config = ConfigDict(extra="forbid")
    command: Cmd = Field(description="a shell string (run by /bin/sh -c) or an argv list")
    cwd: AbsPath | None = Field(None, description="working directory (absolute)")
    env: dict[str, str] = Field(default_factory=dict,
                                description="extra environment (values may be sensitive)")
    timeout: float = Field(300.0, gt=0, description="seconds before the process group is killed")
    creates: AbsPath | None = Field(None, description="skip when this absolute path exists")
    unless: Cmd | None = Field(None, description="skip when this command exits 0")
    onlyif: Cmd | None = Field(None, description="run only when this command exits 0")
    triggers: dict[str, Any] = Field(default_factory=dict,
                                     description="any change of these values re-runs it")
    on_delete: Cmd | None = Field(None, description="run when the resource is deleted")


@record
class CommandResult:
    """What one run did: exit code, output tails (scrubbed), seconds taken."""

    code: int
    stdout: str
    stderr: str
    seconds: float


def _argv(cmd: Cmd) -> list[str]:
    return ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)


def _tail(data: bytes, secrets: Sequence[str]) -> str:
    """The last lines of ``data``, masked first and cut after (at most TAIL_BYTES)."""
    text = Redactor(*(Sensitive(s) for s in secrets if s)).text(
        data.decode("utf-8", "replace"))
    cut = text.encode()[-TAIL_BYTES:].decode("utf-8", "ignore")
    return "\n".join(cut.splitlines()[-TAIL_LINES:])


def run_command(cmd: Cmd, *, rid: ResourceId, cwd: str | None = None,
                env: Mapping[str, str] | None = None, timeout: float = 300.0,
                secrets: Sequence[str] = (), host: Host = LOCAL) -> CommandResult:
    """Run ``cmd`` on ``host`` in its own process group; kill the group on timeout.

    A missing program or cwd is a ProviderError; a non-zero exit is not (the
    caller decides what it means).
    """
    start = time.monotonic()
    try:
        done = host.run(_argv(cmd), cwd=cwd, env=dict(env or {}), timeout=timeout)
    except OSError as exc:
        where = f" in {cwd}" if cwd else ""
        raise ProviderError(f"cannot start command{where}: {(exc.strerror or str(exc)).lower()}",
                            resource=rid, hint="check the program name and cwd") from None
    if done.timed_out:
        raise ProviderError(f"command timed out after {timeout:g}s and was killed",
                            resource=rid, retryable=True,
                            hint="raise timeout, or make the command finish sooner")
    return CommandResult(done.code, _tail(done.stdout, secrets), _tail(done.stderr, secrets),
                         round(time.monotonic() - start, 3))


def _secret_values(properties: Mapping[str, Any]) -> list[str]:
    """Every text form of every secret of the resource: env values, and secrets
    inside the command, guards and triggers (``echo ${var.token}``)."""
    return sorted(secret_texts(properties), key=len, reverse=True)


def _public_env(env: Mapping[str, Any]) -> dict[str, str]:
    """The env values safe to keep in state (secrets left out)."""
    return {k: str(v) for k, v in env.items() if not isinstance(v, Sensitive)}


class CommandHandler(KindHandler):
    """``local:command``, run on ``host`` (this machine unless the ssh provider says)."""

    host: Host = LOCAL

    spec = KindSpec(
        name="command", schema=CommandProps,
        description="Runs a command at create and whenever its command, env or triggers "
                    "change, or a resource it is triggered by changes.",
        attributes={"command": "the command", "cwd": "working directory",
                    "env": "extra environment (secrets as digests)",
                    "triggers": "the trigger values of the last run",
                    "exit_code": "exit code of the last run (None when skipped)",
                    "skipped": "why the last run was skipped, or empty",
                    "stdout": "last lines of stdout", "stderr": "last lines of stderr"},
    )

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The record of the last run (a command has no other live object)."""
        return prior

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Re-run when the command, cwd, env or triggers changed, or ``creates`` vanished."""
        props = desired.properties
        wanted = {k: props.get(k, d) for k, d in
                  (("command", None), ("cwd", None), ("env", {}), ("triggers", {}))}
        change = diff_properties(self.spec, desired, live, compare=comparable(wanted))
        secret = any(isinstance(v, Sensitive) for v in props.get("env", {}).values())
        if secret and change.diffs:
            change = _mask_env(change)
        creates = props.get("creates")
        if change.action is Action.NOOP and isinstance(creates, str) \
                and not self.host.lexists(creates):
            return Change(desired.id, Action.UPDATE, desired, live,
                          (FieldDiff("creates", creates, creates),),
                          reason=f"{creates} does not exist")
        return change

    def create(self, change: Change) -> LiveResource:
        """Run it (unless a guard says not to) and record the run."""
        assert change.desired is not None
        return self._run(change.desired)

    def update(self, change: Change) -> LiveResource:
        """Run it again, guards permitting."""
        assert change.desired is not None
        return self._run(change.desired)

    def _run(self, desired: Resource) -> LiveResource:
        rid = desired.id
        props: CommandProps = self.parse(desired)
        secrets = _secret_values(desired.properties)
        skipped = self._guard(props, rid, secrets)
        result = None if skipped else run_command(
            props.command, rid=rid, cwd=props.cwd, env=props.env, timeout=props.timeout,
            secrets=secrets, host=self.host)
        if result is not None and result.code != 0:
            raise _failed(rid, "command", result)
        return self._record(desired, props, result, skipped)

    def _guard(self, props: CommandProps, rid: ResourceId, secrets: Sequence[str]) -> str:
        """Why the run is skipped, or "" to run it."""
        if props.creates is not None and self.host.lexists(props.creates):
            return f"{props.creates} exists"
        kw: dict[str, Any] = {"rid": rid, "cwd": props.cwd, "env": props.env,
                              "timeout": props.timeout, "secrets": secrets, "host": self.host}
        if props.unless is not None and run_command(props.unless, **kw).code == 0:
            return "unless exited 0"
        if props.onlyif is not None and run_command(props.onlyif, **kw).code != 0:
            return "onlyif exited non-zero"
        return ""

    def _record(self, desired: Resource, props: CommandProps, result: CommandResult | None,
                skipped: str) -> LiveResource:
        raw = desired.properties
        # from the raw properties: secrets must stay digests in attributes
        attrs = {"command": comparable(raw["command"]), "cwd": props.cwd,
                 "env": comparable(raw.get("env", {})),
                 "triggers": comparable(raw.get("triggers", {})),
                 "exit_code": result.code if result else None, "skipped": skipped,
                 "stdout": result.stdout if result else "",
                 "stderr": result.stderr if result else ""}
        # delete gets only this record, so on_delete and its context live here
        private = {"on_delete": props.on_delete, "cwd": props.cwd,
                   "env": _public_env(raw.get("env", {})), "timeout": props.timeout}
        return LiveResource(desired.id, attrs, private)

    def delete(self, prior: LiveResource) -> None:
        """Run ``on_delete`` if one was given (without secret env values)."""
        p = prior.private
        cmd = p.get("on_delete")
        if not cmd:
            return
        result = run_command(cmd, rid=prior.id, cwd=p.get("cwd"), env=p.get("env") or {},
                             timeout=float(p.get("timeout") or 300.0), host=self.host)
        if result.code != 0:
            raise _failed(prior.id, "on_delete command", result)


def _failed(rid: ResourceId, what: str, result: CommandResult) -> ProviderError:
    last = "\n".join(result.stderr.splitlines()[-5:]) or "(no stderr)"
    return ProviderError(f"{what} exited with code {result.code}; stderr ends:\n{last}",
                         resource=rid, hint="fix the command, then apply again")


def _mask_env(change: Change) -> Change:
    diffs = tuple(FieldDiff(d.path, d.before, d.after, True, d.forces_replace)
                  if d.path == "env" else d for d in change.diffs)
    return Change(change.id, change.action, change.desired, change.prior, diffs,
                  change.reason, change.refused, change.depends_on, change.triggered_by)


HANDLERS: dict[str, KindHandler] = {"command": CommandHandler()}
