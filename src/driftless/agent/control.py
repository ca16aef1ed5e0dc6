"""Human controls of a stack: pin (rollback), unpin, suspend, resume, reconcile now.

I/O: the agent store's ``controls`` table. The CLI calls these directly
(they work while the agent is stopped) and so does the agent's HTTP API;
either way the running agent reads them at its next run of the stack.
"""

from __future__ import annotations

import time

from driftless.agent.store import AgentStore, Controls
from driftless.errors import ConfigError

__all__ = ["pin", "request_reconcile", "rollback_target", "set_suspended", "unpin"]


def rollback_target(store: AgentStore, stack: str) -> str:
    """The previous healthy revision (before the one applied now)."""
    st = store.status(stack)
    older = [r for r in st.healthy_revisions if r != st.revision]
    if not older:
        raise ConfigError(
            f"stack '{stack}' has no earlier healthy revision to roll back to",
            hint=f"name one: driftless rollback {stack} --to REV (see driftless history {stack})",
        )
    return older[-1]


def pin(store: AgentStore, stack: str, *, to: str | None = None) -> Controls:
    """Pin ``stack`` to ``to`` (default: the previous healthy revision)."""
    target = to or rollback_target(store, stack)
    _known(store, stack)
    return store.set_controls(stack, pinned=target, requested=time.time())


def unpin(store: AgentStore, stack: str) -> Controls:
    """Let the stack follow its git ref again."""
    _known(store, stack)
    return store.set_controls(stack, pinned=None, requested=time.time())


def set_suspended(store: AgentStore, stack: str, suspended: bool) -> Controls:
    """Suspend (the agent leaves the stack alone) or resume it."""
    _known(store, stack)
    return store.set_controls(stack, suspended=suspended, requested=time.time())


def request_reconcile(store: AgentStore, stack: str) -> Controls:
    """Ask for a reconcile as soon as the agent can."""
    _known(store, stack)
    return store.set_controls(stack, requested=time.time())


def _known(store: AgentStore, stack: str) -> None:
    names = [s.stack for s in store.statuses()]
    if stack not in names:
        raise ConfigError(f"unknown stack '{stack}'",
                          hint=f"stacks the agent knows: {', '.join(names) or 'none yet'}")
