"""The agent's HTTP API: status, controls, webhooks and metrics.

I/O: serves HTTP on a loopback address from a uvicorn server in its own
thread. Reads go to the agent store; mutations write controls to the store
and wake the loop; webhooks are verified and turned into a wake-up of the
matching source. Responses never contain secrets: status and history are
built from masked data, and tokens are compared in constant time.

Auth: ``Authorization: Bearer <token>``. Reads need the read token when one
is configured (the admin token also reads); mutations need the admin token.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from driftless.agent import control
from driftless.agent.ui import ui_routes
from driftless.errors import DriftlessError
from driftless.model import Sensitive, reveal

if TYPE_CHECKING:
    from driftless.agent.loop import Agent

__all__ = ["RunningServer", "build_app", "start_server"]

log = logging.getLogger("driftless.agent.api")
Handler = Callable[[Request], Awaitable[Response]]


def _token_ok(request: Request, *tokens: Sensitive | None) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return any(t is not None and hmac.compare_digest(given.encode(), str(reveal(t)).encode())
               for t in tokens)


def _unauthorized(what: str) -> JSONResponse:
    return JSONResponse({"error": f"{what} needs 'Authorization: Bearer <token>'"},
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _reader(agent: Agent, fn: Handler) -> Handler:
    """Guard ``fn`` with the read token (the admin token also reads), if one is set."""
    cfg = agent.config

    async def wrapped(request: Request) -> Response:
        if cfg.read_token is not None and not _token_ok(
                request, cfg.read_token, agent.admin_token):
            return _unauthorized("reading")
        return await fn(request)
    return wrapped


def _admin(agent: Agent, fn: Handler) -> Handler:
    """Guard ``fn`` with the admin token; a DriftlessError becomes a 404 with its hint."""
    async def wrapped(request: Request) -> Response:
        if not _token_ok(request, agent.admin_token):
            return _unauthorized("this action")
        try:
            return await fn(request)
        except DriftlessError as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=404)
    return wrapped


def _probe_routes(agent: Agent) -> list[Route]:
    """Liveness and readiness: unauthenticated, for process supervisors."""
    store = agent.store

    async def healthz(_: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(_: Request) -> Response:
        stacks = store.statuses()
        waiting = [s.stack for s in stacks if not s.ready]
        down = {name: err.message for name in agent.sources.configs
                if (err := agent.sources.unavailable(name)) is not None}
        ok = agent.started.is_set() and bool(stacks) and not waiting and not down
        return JSONResponse({"ready": ok, "not_ready": waiting, "sources_unavailable": down},
                            status_code=200 if ok else 503)

    return [Route("/healthz", healthz), Route("/readyz", readyz)]


def _status_routes(agent: Agent) -> list[Route]:
    """Read-only stack status and history, behind the read token."""
    store = agent.store

    async def stacks(_: Request) -> Response:
        return JSONResponse({"stacks": [s.to_json() for s in store.statuses()]})

    async def one(request: Request) -> Response:
        name = request.path_params["name"]
        found = [s for s in store.statuses() if s.stack == name]
        if not found:
            return JSONResponse({"error": f"unknown stack '{name}'"}, status_code=404)
        return JSONResponse(found[0].to_json())

    async def history(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "20"))
        entries = store.history(request.path_params["name"], limit=limit)
        return JSONResponse({"history": [e.to_json() for e in entries]})

    async def resources(request: Request) -> Response:
        return JSONResponse({"resources": store.resources(request.path_params["name"])})

    async def fleet(_: Request) -> Response:
        hook = agent.runtime.fleet
        if hook is None:
            return JSONResponse({"error": "fleet mode is off (DRIFTLESS_FLEET)"}, status_code=404)
        return JSONResponse(await run_in_threadpool(hook.snapshot))  # reads the fleet store

    return [
        Route("/api/v1/fleet", _reader(agent, fleet)),
        Route("/api/v1/stacks", _reader(agent, stacks)),
        Route("/api/v1/stacks/{name}", _reader(agent, one)),
        Route("/api/v1/stacks/{name}/history", _reader(agent, history)),
        Route("/api/v1/stacks/{name}/resources", _reader(agent, resources)),
    ]


def _control_routes(agent: Agent) -> list[Route]:
    """Stack actions (reconcile, suspend, resume, rollback, unpin), behind the admin token."""
    async def act(request: Request) -> Response:
        name, action = request.path_params["name"], request.path_params["action"]
        body = await _json_body(request)
        who = f"API admin token from {request.client.host if request.client else 'unknown'}"
        controls = _apply_action(agent, name, action, body, actor=who)
        agent.wake()  # the loop reads the control, its trigger and who asked, from the store
        return JSONResponse({"stack": name, "action": action, "pinned": controls.pinned,
                             "suspended": controls.suspended}, status_code=202)

    return [Route("/api/v1/stacks/{name}/{action:str}", _admin(agent, act), methods=["POST"])]


def _hook_routes(agent: Agent) -> list[Route]:
    """Webhooks: authenticated by their own signatures, not by bearer tokens.

    The body is read in chunks and refused with 413 as soon as it passes
    ``webhook_body_limit`` (before any signature check), so an unsigned
    200 MB POST costs at most the limit in memory.
    """
    hooks, limit = agent.hooks, agent.config.webhook_body_limit

    async def hook(request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        if hooks.blocked(client):
            return JSONResponse({"error": "too many failed webhook signatures; retry later"},
                                status_code=429, headers={"Retry-After": "60"})
        body = await _capped_body(request, limit)
        if body is None:
            return JSONResponse({"error": f"webhook body over {limit} bytes"}, status_code=413,
                                headers={"Connection": "close"})
        status, doc = hooks.receive(request.path_params["kind"], dict(request.headers), body,
                                    client=client)
        return JSONResponse(doc, status_code=status)

    return [Route("/hooks/{kind}", hook, methods=["POST"])]


async def _capped_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _metrics_routes(agent: Agent) -> list[Route]:
    """Prometheus exposition, behind the read token."""
    async def metrics(_: Request) -> Response:
        body = await run_in_threadpool(agent.metrics.render, agent.runtime.fleet)
        return Response(body, media_type="text/plain; version=0.0.4")

    return [Route("/metrics", _reader(agent, metrics))]


def build_app(agent: Agent) -> Starlette:
    """The Starlette application serving ``agent``."""
    routes = [*_probe_routes(agent), *_status_routes(agent), *_control_routes(agent),
              *_hook_routes(agent), *_metrics_routes(agent), *ui_routes()]
    return Starlette(routes=routes)


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        doc = await request.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _apply_action(agent: Agent, name: str, action: str, body: dict[str, Any], *,
                  actor: str) -> Any:
    store = agent.store
    if action == "reconcile":
        return control.request_reconcile(store, name, actor=actor)
    if action == "wake":  # the CLI wrote its control (a rollback, say) already: just wake up
        return control.controls_of(store, name)
    if action in ("suspend", "resume"):
        return control.set_suspended(store, name, action == "suspend", actor=actor)
    if action == "rollback":
        return control.pin(store, name, to=body.get("to"), actor=actor)
    if action == "unpin":
        return control.unpin(store, name, actor=actor)
    raise DriftlessError(f"unknown action '{action}'",
                         hint="use reconcile, suspend, resume, rollback or unpin")


class RunningServer:
    """A uvicorn server in a daemon thread."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str) -> None:
        self.server, self.thread, self.url = server, thread, url

    def stop(self) -> None:
        """Stop serving and wait for the thread (a few seconds at most)."""
        self.server.should_exit = True
        self.thread.join(timeout=5.0)


def start_server(agent: Agent, *, host: str, port: int) -> RunningServer:
    """Serve ``agent`` on host:port from a background thread; wait until bound."""
    config = uvicorn.Config(build_app(agent), host=host, port=port, log_level="warning",
                            access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="driftless-http", daemon=True)
    thread.start()
    deadline = time.time() + 10.0
    while not server.started and thread.is_alive() and time.time() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise DriftlessError(f"cannot listen on {host}:{port}",
                             hint="is another agent running? pick another --listen port")
    bound = port or server.servers[0].sockets[0].getsockname()[1]
    return RunningServer(server, thread, f"http://{host}:{bound}")
