"""The agent: continuous, pull-based reconciliation of stacks from Git.

The loop (``Agent``) wakes on a poll interval, a webhook, a drift interval or
a human request, and runs each due stack through ``steps.STEPS``. Status and
history go to its own SQLite store; an HTTP API on 127.0.0.1 serves them.
Importing this package does no I/O and stays light: ``Agent`` (which pulls in
the engine, renderer and git layers) loads on first use, starlette/uvicorn
only when serving.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftless.agent.config import (
        AgentConfig,
        Overrides,
        SourceConfig,
        StackSettings,
        WebhookSecrets,
        apply_overrides,
        load_agent_config,
        parse_listen,
        webhook_secrets_from_env,
    )
    from driftless.agent.control import (
        pin,
        request_reconcile,
        rollback_target,
        set_suspended,
        unpin,
    )
    from driftless.agent.loop import Agent, admin_token_path
    from driftless.agent.policy import check_manual_apply, in_agent_or_ci, record_break_glass
    from driftless.agent.schedule import next_run
    from driftless.agent.store import AgentStore, Controls, StackStatus, default_store_path

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentStore",
    "Controls",
    "Overrides",
    "SourceConfig",
    "StackSettings",
    "StackStatus",
    "WebhookSecrets",
    "admin_token_path",
    "apply_overrides",
    "check_manual_apply",
    "default_store_path",
    "in_agent_or_ci",
    "load_agent_config",
    "next_run",
    "parse_listen",
    "pin",
    "record_break_glass",
    "request_reconcile",
    "rollback_target",
    "set_suspended",
    "unpin",
    "webhook_secrets_from_env",
]


# Each public name and its module, imported on first use: the CLI's policy
# check (every apply) must not import the agent's configuration and store.
_WHERE = {
    **dict.fromkeys(("AgentConfig", "Overrides", "SourceConfig", "StackSettings",
                     "WebhookSecrets", "apply_overrides", "load_agent_config", "parse_listen",
                     "webhook_secrets_from_env"), "config"),
    **dict.fromkeys(("pin", "request_reconcile", "rollback_target", "set_suspended", "unpin"),
                    "control"),
    **dict.fromkeys(("check_manual_apply", "in_agent_or_ci", "record_break_glass"), "policy"),
    "next_run": "schedule",
    **dict.fromkeys(("AgentStore", "Controls", "StackStatus", "default_store_path"), "store"),
    **dict.fromkeys(("Agent", "admin_token_path"), "loop"),
}


def __getattr__(name: str) -> Any:
    """``driftless.agent.X``: imported from its module when first asked for."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(name)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
