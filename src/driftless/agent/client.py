"""Talk to a running agent from the CLI: find it through its store, wake it.

I/O: reads the agent store's ``url`` fact and the admin token (environment
``DRIFTLESS_ADMIN_TOKEN`` or the generated token file), then one HTTP POST.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from driftless.agent.loop import admin_token_path
from driftless.agent.store import AgentStore

__all__ = ["admin_token", "wake_agent"]


def admin_token(state_dir: Path) -> str | None:
    """The admin token from the environment, else the agent's generated file."""
    env = os.environ.get("DRIFTLESS_ADMIN_TOKEN")
    if env:
        return env
    path = admin_token_path(state_dir)
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def wake_agent(store: AgentStore, state_dir: Path, stack: str, *, action: str = "wake",
               body: dict[str, str] | None = None) -> str | None:
    """POST ``action`` for ``stack`` to the running agent; None when none answers.

    The default, ``wake``, changes nothing: the CLI wrote its control to the
    store already, and the agent reads it (with who asked) when it wakes.

    Returns the agent URL on success. A refused token is reported as an
    error string in the return value's place: callers print it.
    """
    url, token = store.meta("url"), admin_token(state_dir)
    if not url or not token:
        return None
    try:
        resp = httpx.post(f"{url}/api/v1/stacks/{stack}/{action}", json=body or {},
                          headers={"Authorization": f"Bearer {token}"}, timeout=5.0)
    except httpx.HTTPError:
        return None
    return url if resp.status_code < 300 else None
