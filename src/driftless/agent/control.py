"""Human controls of a stack: pin (rollback), unpin, suspend, resume, reconcile now.

I/O: the agent store's ``controls`` table. The CLI calls these directly
(they work while the agent is stopped) and so does the agent's HTTP API;
either way the running agent reads them at its next run of the stack.
"""

from __future__ import annotations

import getpass
import time

from driftless.agent.store import AgentStore, Controls
from driftless.errors import ConfigError

__all__ = ["controls_of", "local_user", "pin", "request_reconcile", "rollback_target",
           "set_suspended", "unpin"]


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


def local_user() -> str:
    """Who runs this process, for the record: ``name (cli)``."""
    try:
        return f"{getpass.getuser()} (cli)"
    except (KeyError, OSError):  # no passwd entry, no LOGNAME
        return "unknown user (cli)"


def pin(store: AgentStore, stack: str, *, to: str | None = None,
        actor: str | None = None) -> Controls:
    """Pin ``stack`` to ``to`` (default: the previous healthy revision): a rollback,
    recorded as trigger ``rollback`` with the target and ``actor`` (default: the
    local user)."""
    target = to or rollback_target(store, stack)
    _known(store, stack)
    return store.set_controls(stack, pinned=target, requested=time.time(),
                              request_trigger="rollback", requested_by=actor or local_user())


def unpin(store: AgentStore, stack: str, *, actor: str | None = None) -> Controls:
    """Let the stack follow its git ref again."""
    _known(store, stack)
    return store.set_controls(stack, pinned=None, **_manual(actor))


def set_suspended(store: AgentStore, stack: str, suspended: bool, *,
                  actor: str | None = None) -> Controls:
    """Suspend (the agent leaves the stack alone) or resume it."""
    _known(store, stack)
    return store.set_controls(stack, suspended=suspended, **_manual(actor))


def request_reconcile(store: AgentStore, stack: str, *, actor: str | None = None) -> Controls:
    """Ask for a reconcile as soon as the agent can."""
    _known(store, stack)
    return store.set_controls(stack, **_manual(actor))


def controls_of(store: AgentStore, stack: str) -> Controls:
    """The stack's controls as they are (an unknown stack is an error)."""
    _known(store, stack)
    return store.controls(stack)


def _manual(actor: str | None) -> dict[str, object]:
    return {"requested": time.time(), "request_trigger": "manual",
            "requested_by": actor or local_user()}


def _known(store: AgentStore, stack: str) -> None:
    names = [s.stack for s in store.statuses()]
    if stack not in names:
        raise ConfigError(f"unknown stack '{stack}'",
                          hint=f"stacks the agent knows: {', '.join(names) or 'none yet'}")
