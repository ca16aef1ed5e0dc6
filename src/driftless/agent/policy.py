"""The "never by hand" policy: who may apply outside the agent.

With ``settings: {never_by_hand: true}`` in driftless.yaml, ``driftless
apply`` and ``destroy`` refuse unless they run inside the agent (which sets
``DRIFTLESS_AGENT=1`` for itself), in CI (``CI=true``), or with an explicit
break-glass flag and a reason, which is recorded in the agent history.

I/O: reads the environment; ``record_break_glass`` writes one history entry
to the agent store (``<project>/.driftless/agent.db``).
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from driftless.errors import ConfigError
from driftless.model import HistoryEntry

__all__ = ["AGENT_ENV", "check_manual_apply", "in_agent_or_ci", "record_break_glass"]

AGENT_ENV = "DRIFTLESS_AGENT"


def in_agent_or_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process is the agent or a CI job."""
    env = os.environ if environ is None else environ
    return env.get(AGENT_ENV) == "1" or env.get("CI", "").lower() == "true"


def check_manual_apply(
    project_settings: Mapping[str, Any],
    *,
    break_glass: bool,
    reason: str | None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Raise ConfigError when the project forbids a hand-run apply here.

    Allowed: the setting is off; inside the agent or CI; ``break_glass`` with
    a non-empty reason (the caller then calls ``record_break_glass``).
    """
    if not project_settings.get("never_by_hand", False) or in_agent_or_ci(environ):
        return
    if break_glass and reason and reason.strip():
        return
    if break_glass:
        raise ConfigError(
            "--break-glass needs a reason",
            hint='add --reason "why this cannot wait for a commit" (it is recorded in history)',
        )
    raise ConfigError(
        "this project is applied only by the agent or CI "
        "(settings.never_by_hand in driftless.yaml)",
        hint='commit the change and let the agent apply it, or in an emergency: '
        '--break-glass --reason "..." (recorded in history)',
    )


def record_break_glass(
    project_root: Path,
    *,
    stacks: Sequence[str],
    reason: str,
    operation: str = "apply",
    revision: str | None = None,
    actor: str | None = None,
) -> None:
    """Record a break-glass apply/destroy in each stack's history."""
    from driftless.agent.store import AgentStore, default_store_path  # only when recording

    store = AgentStore(default_store_path(project_root))
    who = actor or _actor()
    now = time.time()
    for stack in stacks:
        store.add_history(HistoryEntry(
            stack=stack, revision=revision, digest="", trigger="break-glass",
            started=now, duration=0.0, reason=reason.strip(), outcome=operation, actor=who,
        ))


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{os.uname().nodename}"  # gethostname(), without loading socket
