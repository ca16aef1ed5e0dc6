"""CLI commands of the agent: agent, status, history, rollback, unpin, suspend,
resume, reconcile.

Everything but ``agent`` works whether the agent runs or not: controls are
written to the agent store (``--state-dir``), then a running agent is woken
through its API so it acts at once.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from driftless.agent import (
    AgentConfig,
    AgentStore,
    Controls,
    Overrides,
    SourceConfig,
    StackStatus,
    apply_overrides,
    default_store_path,
    load_agent_config,
    pin,
    request_reconcile,
    set_suspended,
    unpin,
    webhook_secrets_from_env,
)
from driftless.cli.output import console, guard, print_json
from driftless.cli.plain import escape
from driftless.errors import ConfigError
from driftless.model import HistoryEntry, Sensitive
from driftless.render import find_project

__all__ = ["register"]

StateDir = Annotated[Path, typer.Option(
    "--state-dir", envvar="DRIFTLESS_AGENT_STATE_DIR",
    help="The agent's work directory (its store, state, git cache).")]
DEFAULT_STATE_DIR = Path(".driftless-agent")
StackName = Annotated[str, typer.Argument(help="Stack name.")]


def _store(state_dir: Path) -> AgentStore:
    return AgentStore(default_store_path(state_dir))


def _ago(ts: float) -> str:
    if not ts:
        return "never"
    secs = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit} ago"
    return f"{secs}s ago"


def _sync_label(s: StackStatus) -> str:
    if s.controls.suspended:
        return "Suspended"
    return "Stalled" if s.stalled else s.sync


def status_table(statuses: list[StackStatus]) -> Table:
    """STACK SYNC HEALTH REVISION LAST APPLY MESSAGE, as in UX.md."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("STACK", "SYNC", "HEALTH", "REVISION", "LAST APPLY", "MESSAGE"):
        table.add_column(col, overflow="fold" if col == "MESSAGE" else "ellipsis")
    for s in statuses:
        rev = (s.revision or "-")[:7] + (" (pinned)" if s.controls.pinned else "")
        table.add_row(s.stack, _sync_label(s), s.health, rev, _ago(s.last_apply),
                      escape(s.message))
    return table


def _wake(state_dir: Path, stack: str, what: str) -> None:
    from driftless.agent.client import wake_agent

    url = wake_agent(_store(state_dir), state_dir, stack)
    if url:
        console.print(f"{what}; the agent at {url} is acting on it now.")
    else:
        console.print(f"{what}; no running agent answered — it applies at the agent's next run.")


def register(app: typer.Typer) -> None:
    """Add the agent commands to ``app``."""
    app.command("agent")(agent)
    app.command("status")(status)
    app.command("history")(history)
    app.command("rollback")(rollback)
    app.command("unpin")(unpin_cmd)
    app.command("suspend")(suspend)
    app.command("resume")(resume)
    app.command("reconcile")(reconcile)


def agent(
    source: Annotated[str | None, typer.Option(help="Git URL of a driftless project.")] = None,
    ref: Annotated[str, typer.Option(help="Branch, tag, commit or semver range.")] = "main",
    path: Annotated[str, typer.Option(help="Project directory inside the repository.")] = ".",
    env: Annotated[str | None, typer.Option(help="Environment to render.")] = None,
    listen: Annotated[str | None, typer.Option(
        envvar="DRIFTLESS_AGENT_LISTEN", help="HOST:PORT on loopback (default 127.0.0.1:8765)."
    )] = None,
    interval: Annotated[float | None, typer.Option(
        envvar="DRIFTLESS_AGENT_INTERVAL", help="Seconds between git polls (default 60).")] = None,
    drift_interval: Annotated[float | None, typer.Option(
        envvar="DRIFTLESS_AGENT_DRIFT_INTERVAL",
        help="Seconds between drift checks (default 300).")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="A driftless.yaml with an agent: section.")] = None,
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", envvar="DRIFTLESS_AGENT_STATE_DIR",
        help="The agent's work directory (default .driftless-agent).")] = None,
    webhook_body_limit: Annotated[int | None, typer.Option(
        envvar="DRIFTLESS_AGENT_WEBHOOK_BODY_LIMIT",
        help="Largest webhook body in bytes (default 1048576).")] = None,
    refuse_plaintext_secrets: Annotated[bool, typer.Option(
        "--refuse-plaintext-secrets",
        help="Stall a revision whose changed files hold a plaintext secret.")] = False,
    image_interval: Annotated[float | None, typer.Option(
        "--image-interval", envvar="DRIFTLESS_AGENT_IMAGE_INTERVAL",
        help="Run image automation (settings.images) every N seconds: commit and push "
             "new tags, then deploy them [default: off].")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose")] = False,
) -> None:
    """Reconcile continuously from git: poll, webhooks, drift, self-heal, history.

    Example: driftless agent --source https://git.example.com/ops.git --ref main

    A flag beats its environment variable, which beats --config's file, which
    beats the default. Secrets come from the environment: DRIFTLESS_WEBHOOK_SECRET
    (GitHub webhooks), DRIFTLESS_GITLAB_TOKEN, DRIFTLESS_GENERIC_WEBHOOK_SECRET,
    DRIFTLESS_ADMIN_TOKEN (else one is generated into
    STATE_DIR/.driftless/admin-token), DRIFTLESS_READ_TOKEN.
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    given = Overrides(
        state_dir=state_dir.resolve() if state_dir is not None else None, listen=listen,
        interval=interval, drift_interval=drift_interval, webhook_body_limit=webhook_body_limit,
        # the flag only ever tightens the config file
        refuse_plaintext_secrets=True if refuse_plaintext_secrets else None)
    with guard("the agent did not start"):
        cfg = apply_overrides(_agent_config(source, ref, path, env, config), given)
        _run(replace(cfg, state_dir=cfg.state_dir.resolve()), image_interval)
    console.print("driftless agent stopped.")


def _run(cfg: AgentConfig, image_interval: float | None) -> None:
    """Run the agent until it is stopped, with image automation beside it if asked."""
    from driftless.agent import Agent

    runner = Agent(cfg)
    console.print(f"driftless agent: {len(cfg.sources)} source(s), state in "
                  f"{cfg.state_dir}, API on http://{cfg.host}:{cfg.port}")
    images = _image_automation(cfg, runner, image_interval)
    try:
        runner.run()
    finally:
        if images is not None:
            images.stop()


def _image_automation(cfg: AgentConfig, runner: Any, interval: float | None) -> Any:
    """Start image automation next to the loop; a pushed update is fetched at once."""
    if interval is None:
        return None
    from driftless.agent.images import ImageAutomation

    def fetch_now(source: str, commit: str) -> None:
        runner.request(source=source, trigger="webhook", after=commit)

    automation = ImageAutomation(cfg, interval, fetch_now)
    automation.start()
    return automation


def _agent_config(source: str | None, ref: str, path: str, env: str | None,
                  config: Path | None) -> AgentConfig:
    """The file's configuration, or the flag form's defaults (overrides come later)."""
    if config is not None:
        return load_agent_config(config)
    if source is None:
        raise ConfigError("no source given", hint="use --source URL or --config driftless.yaml")
    url = source if "://" in source else str(Path(source).resolve())
    src = SourceConfig(name="default", url=url, ref=ref, path=path, env=env,
                       webhook=webhook_secrets_from_env(os.environ))
    return AgentConfig(sources=(src,), read_token=_env_secret("DRIFTLESS_READ_TOKEN"),
                       admin_token=_env_secret("DRIFTLESS_ADMIN_TOKEN"))


def _env_secret(name: str) -> Sensitive | None:
    value = os.environ.get(name)
    return Sensitive(value) if value else None


def status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Sync and health of every stack (works while the agent is stopped).

    Example: driftless status --json
    """
    path = default_store_path(state_dir)
    with guard():  # read-only: a missing store is "nothing yet", never created here
        statuses = AgentStore(path).statuses() if path.exists() else []
    if as_json:
        print_json({"stacks": [s.to_json() for s in statuses]})
    elif not statuses:
        console.print(f"no stacks recorded in {default_store_path(state_dir)} yet")
    else:
        console.print(status_table(statuses))


def history(
    stack: StackName,
    limit: Annotated[int, typer.Option(help="How many entries.")] = 20,
    state_dir: StateDir = DEFAULT_STATE_DIR,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What the agent did to a stack, newest first, and why.

    Example: driftless history web --limit 5
    """
    with guard():
        entries = _history(stack, state_dir, limit)
    if as_json:
        print_json({"history": [e.to_json() for e in entries]})
        return
    if not entries:
        console.print(f"no history for stack '{stack}' yet (looked in "
                      f"{default_store_path(state_dir)}); the agent records every reconcile "
                      "there, and the CLI its break-glass applies and forced unlocks")
        return
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.started))
        counts = ", ".join(f"{v} {k}" for k, v in e.summary.items() if v) or "no changes"
        console.print(f"{when}  {(e.revision or '-')[:7]}  {e.trigger:<11} {e.outcome:<10} "
                      f"{counts}  {escape(e.reason)}  ({e.duration:.2f}s, {e.actor})")


def _history(stack: str, state_dir: Path, limit: int) -> list[HistoryEntry]:
    """The agent's records and the project's own (break-glass applies and forced unlocks
    made with the CLI), merged newest first."""
    stores = [default_store_path(state_dir)]
    project = _project_root()
    if project is not None and default_store_path(project).resolve() != stores[0].resolve():
        stores.append(default_store_path(project))
    entries = [e for path in stores if path.exists()
               for e in AgentStore(path).history(stack, limit=limit)]
    return sorted(entries, key=lambda e: e.started, reverse=True)[:limit]


def _project_root() -> Path | None:
    try:
        return find_project()
    except ConfigError:
        return None


def _change(state_dir: Path, stack: str, change: Callable[[AgentStore, str], Controls], *,
            done: str | Callable[[Controls], str], wake: bool = True) -> None:
    """Write one control to the agent store, then (unless ``wake`` is off) wake the agent.

    A user error (unknown stack, no earlier revision) exits cleanly before any wake-up.
    """
    with guard():
        ctl = change(_store(state_dir), stack)
    if wake:
        _wake(state_dir, stack, done(ctl) if callable(done) else done)


def rollback(
    stack: StackName,
    to: Annotated[str | None, typer.Option(help="Revision (default: previous healthy).")] = None,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Pin a stack to an earlier revision; auto-sync keeps it until `unpin`.

    Example: driftless rollback web --to a1b2c3d
    """
    _change(state_dir, stack, partial(pin, to=to),
            done=lambda ctl: f"stack '{stack}' pinned to {str(ctl.pinned)[:7]}")


def unpin_cmd(stack: StackName, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Let a pinned stack follow its git ref again.

    Example: driftless unpin web
    """
    _change(state_dir, stack, unpin, done=f"stack '{stack}' follows git again")


def suspend(stack: StackName, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop reconciling a stack until `resume` (nothing is changed meanwhile).

    Example: driftless suspend web
    """
    _change(state_dir, stack, partial(set_suspended, suspended=True),
            done=f"stack '{stack}' suspended")


def resume(stack: StackName, state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Resume reconciling a suspended stack.

    Example: driftless resume web
    """
    _change(state_dir, stack, partial(set_suspended, suspended=False),
            done=f"stack '{stack}' resumed")


def reconcile(
    stack: StackName,
    now: Annotated[bool, typer.Option("--now", help="Wake the running agent at once.")] = True,
    state_dir: StateDir = DEFAULT_STATE_DIR,
) -> None:
    """Ask the agent to reconcile a stack now.

    Example: driftless reconcile web --now
    """
    _change(state_dir, stack, request_reconcile, done=f"reconcile of '{stack}' requested",
            wake=now)
