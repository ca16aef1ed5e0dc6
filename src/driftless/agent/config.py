"""Agent configuration: sources, stacks, listen address, tokens, intervals.

Read from the ``agent:`` section of a driftless.yaml (``driftless agent
--config FILE``) or built from command-line flags for the simple case of one
source holding one project. I/O: reads that YAML file, and token/secret
files or environment variables named by it. Secrets are wrapped in
``Sensitive`` as soon as they are read.

Precedence, for every setting that has more than one: a command-line flag,
then its environment variable, then the file, then the default
(``Overrides`` carries the first two; ``apply_overrides`` lays them on top).

::

    agent:
      listen: 127.0.0.1:8765
      state_dir: .driftless-agent
      drift_interval: 300
      read_token: {env: DRIFTLESS_READ_TOKEN}
      admin_token: {file: /etc/driftless/admin-token}
      sources:
        - {name: app, url: https://git.example.com/app.git, ref: main, path: deploy,
           interval: 60, env: prod, stacks: [web],
           webhook: {github_secret: {env: GH_HOOK_SECRET}}}
      webhook_body_limit: 1048576           # bytes; larger deliveries get 413
      stacks:
        web: {prune: true, self_heal: true, auto_rollback: false}
      refuse_plaintext_secrets: true        # stall a revision whose changes hold one
      allow_read: [/etc/driftless/shared]   # beyond each checkout (operator only)
      limits: {instances: 50000}            # see docs/security.md
      secrets: {files: [/run/secrets], env: ["APP_*"], commands: false}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field, replace
from pathlib import Path
from typing import Any

import yaml

from driftless.errors import ConfigError
from driftless.model import Sensitive
from driftless.model.policy import Policy, PolicyError
from driftless.records import record

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "AgentConfig",
    "Overrides",
    "SourceConfig",
    "StackSettings",
    "WebhookSecrets",
    "apply_overrides",
    "load_agent_config",
    "parse_listen",
    "read_secret",
    "webhook_secrets_from_env",
]

DEFAULT_STATE_DIR = Path(".driftless-agent")
DEFAULT_BODY_LIMIT = 1 << 20  # 1 MiB: GitHub caps payloads at 25 MB, pushes are far smaller
WEBHOOK_KEYS = {"github_secret": "github", "gitlab_token": "gitlab",
                "generic_secret": "hmac", "hmac_secret": "hmac"}


@record
class StackSettings:
    """Per-stack reconcile options; the stack's own ``settings`` override these."""

    prune: bool = True
    self_heal: bool = True
    auto_rollback: bool = False

    def merged(self, overrides: Mapping[str, Any]) -> StackSettings:
        """These settings with the stack file's own values on top."""
        return StackSettings(
            bool(overrides.get("prune", self.prune)),
            bool(overrides.get("self_heal", self.self_heal)),
            bool(overrides.get("auto_rollback", self.auto_rollback)),
        )


@record
class WebhookSecrets:
    """Secrets a source's webhooks are verified with, one per provider (any may be
    absent; an absent one refuses that provider's deliveries, it never falls back
    to another provider's secret)."""

    github: Sensitive | None = None
    gitlab: Sensitive | None = None
    hmac: Sensitive | None = None


@record
class SourceConfig:
    """One Git source holding a driftless project."""

    name: str
    url: str
    ref: str = "main"
    path: str = "."
    interval: float = 60.0
    env: str | None = None
    stacks: tuple[str, ...] | None = None
    webhook: WebhookSecrets = field(default_factory=WebhookSecrets)
    credentials_file: str | None = None


@record
class AgentConfig:
    """Everything the agent needs to start."""

    sources: tuple[SourceConfig, ...]
    state_dir: Path = DEFAULT_STATE_DIR
    host: str = "127.0.0.1"
    port: int = 8765
    drift_interval: float = 300.0
    read_token: Sensitive | None = None
    admin_token: Sensitive | None = None
    stacks: Mapping[str, StackSettings] = field(default_factory=dict)
    workers: int = 10
    # scan the files each new revision changes and stall it on a plaintext secret
    refuse_plaintext_secrets: bool = False
    webhook_body_limit: int = DEFAULT_BODY_LIMIT
    # what the fetched repositories may read and cost: set here by the operator,
    # never by a repository (the agent section of a fetched revision is ignored)
    policy: Policy = field(default_factory=lambda: Policy.from_environ(os.environ))

    def settings_for(self, stack: str) -> StackSettings:
        """The agent-level settings of one stack (defaults when not named)."""
        return self.stacks.get(stack, StackSettings())


def parse_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:8765`` → (host, port); only loopback hosts are accepted."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"listen address '{value}' is not HOST:PORT",
                          hint="use e.g. --listen 127.0.0.1:8765")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise ConfigError(
            f"listen address '{value}' is not a loopback address",
            hint="the agent binds 127.0.0.1 only; put a reverse proxy in front to expose it",
        )
    return ("127.0.0.1" if host == "localhost" else host.strip("[]")), int(port)


def read_secret(spec: Any, *, where: str) -> Sensitive | None:
    """A secret named by ``{env: NAME}`` or ``{file: PATH}``; None when not set."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in ("env", "file"):
        raise ConfigError(f"{where}: a secret must be {{env: NAME}} or {{file: PATH}}",
                          hint="never put a token itself into driftless.yaml")
    kind, name = next(iter(spec.items()))
    if kind == "env":
        value = os.environ.get(str(name))
        if not value:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return Sensitive(value)
    try:
        return Sensitive(Path(str(name)).expanduser().read_text().strip())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read secret file {name}: {exc.strerror}") from exc


@record
class Overrides:
    """Settings given by flag or environment (None: not given); they beat the file."""

    state_dir: Path | None = None
    listen: str | None = None
    interval: float | None = None
    drift_interval: float | None = None
    webhook_body_limit: int | None = None
    refuse_plaintext_secrets: bool | None = None


def apply_overrides(cfg: AgentConfig, given: Overrides) -> AgentConfig:
    """``cfg`` (from the file or defaults) with every given override on top."""
    changes: dict[str, Any] = {}
    if given.state_dir is not None:
        changes["state_dir"] = given.state_dir
    if given.listen is not None:
        changes["host"], changes["port"] = parse_listen(given.listen)
    if given.drift_interval is not None:
        changes["drift_interval"] = given.drift_interval
    if given.webhook_body_limit is not None:
        changes["webhook_body_limit"] = _body_limit(given.webhook_body_limit, where="override")
    if given.refuse_plaintext_secrets is not None:
        changes["refuse_plaintext_secrets"] = given.refuse_plaintext_secrets
    if given.interval is not None:
        changes["sources"] = tuple(replace(s, interval=given.interval) for s in cfg.sources)
    return replace(cfg, **changes)


def webhook_secrets_from_env(environ: Mapping[str, str]) -> WebhookSecrets:
    """The flag form's webhook secrets: one environment variable per provider."""
    def get(name: str) -> Sensitive | None:
        value = environ.get(name)
        return Sensitive(value) if value else None
    return WebhookSecrets(github=get("DRIFTLESS_WEBHOOK_SECRET"),
                          gitlab=get("DRIFTLESS_GITLAB_TOKEN"),
                          hmac=get("DRIFTLESS_GENERIC_WEBHOOK_SECRET"))


def _body_limit(value: Any, *, where: str) -> int:
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if limit < 1024:
        raise ConfigError(f"{where}: webhook_body_limit must be a number of bytes >= 1024",
                          hint="the default is 1048576 (1 MiB)")
    return limit


def load_agent_config(path: Path, *, state_dir: Path | None = None) -> AgentConfig:
    """Parse the ``agent:`` section of ``path`` (a driftless.yaml)."""
    try:
        doc = yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read agent configuration: {exc}") from exc
    section = doc.get("agent") if isinstance(doc, Mapping) else None
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: no 'agent:' section",
                          hint="add agent: {sources: [{name, url, ref}]} or use --source URL")
    return _agent_from(section, where=str(path), base=path.parent, state_dir=state_dir)


def _agent_from(section: Mapping[str, Any], *, where: str, base: Path,
                state_dir: Path | None) -> AgentConfig:
    sources = tuple(_source_from(s, where=f"{where}: agent.sources[{i}]", base=base)
                    for i, s in enumerate(section.get("sources") or ()))
    if not sources:
        raise ConfigError(f"{where}: agent.sources is empty", hint="name at least one git source")
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: agent.sources have duplicate names {names}")
    host, port = parse_listen(str(section.get("listen", "127.0.0.1:8765")))
    stacks = {str(k): StackSettings().merged(v or {})
              for k, v in (section.get("stacks") or {}).items()}
    return AgentConfig(
        sources=sources,
        state_dir=state_dir or _state_dir(section, base),
        host=host, port=port,
        drift_interval=float(section.get("drift_interval", 300.0)),
        read_token=read_secret(section.get("read_token"), where=f"{where}: agent.read_token"),
        admin_token=read_secret(section.get("admin_token"), where=f"{where}: agent.admin_token"),
        stacks=stacks, policy=_policy_from(section, where=where, base=base),
        refuse_plaintext_secrets=bool(section.get("refuse_plaintext_secrets", False)),
        webhook_body_limit=_body_limit(section.get("webhook_body_limit", DEFAULT_BODY_LIMIT),
                                       where=f"{where}: agent.webhook_body_limit"),
    )


def _state_dir(section: Mapping[str, Any], base: Path) -> Path:
    """``state_dir:`` relative to the file; without one, the default (relative to
    the directory the agent starts in)."""
    if "state_dir" in section:
        return (base / str(section["state_dir"])).resolve()
    return DEFAULT_STATE_DIR


def _policy_from(section: Mapping[str, Any], *, where: str, base: Path) -> Policy:
    """``allow_read: [DIR...]`` and ``limits: {name: N}`` over the environment's policy."""
    roots = section.get("allow_read") or []
    limits = section.get("limits") or {}
    if not isinstance(roots, list) or not isinstance(limits, Mapping):
        raise ConfigError(f"{where}: agent.allow_read must be a list of directories and "
                          "agent.limits a map of name: number",
                          hint="e.g. allow_read: [/etc/driftless/shared], "
                               "limits: {instances: 50000}")
    secrets = section.get("secrets") or {}
    if not isinstance(secrets, Mapping):
        raise ConfigError(f"{where}: agent.secrets must be a map",
                          hint="e.g. secrets: {files: [/run/secrets], env: [APP_*], "
                               "commands: false}")
    env = secrets.get("env")
    try:
        return Policy.from_environ(os.environ).widened(
            read_roots=[base / str(r) for r in roots], limits=dict(limits),
            secret_roots=[base / str(r) for r in secrets.get("files") or []],
            secret_env=None if env is None else [str(e) for e in env],
            secret_commands=bool(secrets["commands"]) if "commands" in secrets else None)
    except PolicyError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _webhook_from(hook: Any, *, where: str) -> WebhookSecrets:
    """One secret per provider; unknown keys are refused so a typo is not a silent 401."""
    if not isinstance(hook, Mapping) or not set(hook) <= set(WEBHOOK_KEYS):
        raise ConfigError(f"{where}: expected a map with some of "
                          "github_secret, gitlab_token, generic_secret",
                          hint="e.g. webhook: {github_secret: {env: GH_HOOK_SECRET}}")
    if "generic_secret" in hook and "hmac_secret" in hook:
        raise ConfigError(f"{where}: hmac_secret is the old name of generic_secret; give one")
    found = {WEBHOOK_KEYS[k]: read_secret(v, where=f"{where}.{k}") for k, v in hook.items()}
    return WebhookSecrets(**found)


def _source_from(doc: Any, *, where: str, base: Path) -> SourceConfig:
    if not isinstance(doc, Mapping) or "url" not in doc:
        raise ConfigError(f"{where}: a source needs at least url:",
                          hint="e.g. {name: app, url: https://git.example.com/app.git, ref: main}")
    hook = doc.get("webhook") or {}
    url = str(doc["url"])
    if "://" not in url and not Path(url).is_absolute():
        url = str((base / url).resolve())
    stacks = doc.get("stacks")
    return SourceConfig(
        name=str(doc.get("name", "default")), url=url, ref=str(doc.get("ref", "main")),
        path=str(doc.get("path", ".")), interval=float(doc.get("interval", 60.0)),
        env=doc.get("env"), stacks=None if stacks is None else tuple(str(s) for s in stacks),
        webhook=_webhook_from(hook, where=f"{where}.webhook"),
        credentials_file=doc.get("credentials_file"),
    )
