"""The web UI: a static page and its assets, served on the agent's API port.

I/O: reads the assets shipped in this package (``static/``) once, when the
routes are built. Everything the page shows it fetches from the JSON API
(``/api/v1/...``) with the token the user pasted, in an ``Authorization``
header: the page itself holds no data, so it is served without a token, and
the API's read and admin guards apply to the page exactly as to any client.

Why no cookies: a cookie would be sent by the browser on a cross-site
request; a header set by the page's own script is not (CSRF-safe). The
token lives in ``sessionStorage`` only. The Content-Security-Policy allows
scripts, styles and requests from this origin only (no inline script, no
framing), so text from a repository (messages, paths) that the page renders
as text cannot run as code either.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from driftless.records import record

__all__ = ["ASSETS", "SECURITY_HEADERS", "ui_routes"]

# name -> media type; only these files are served (no path from the request
# ever reaches the file system)
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@record
class _Asset:
    body: bytes
    media_type: str


def _load() -> dict[str, _Asset]:
    folder = resources.files(__package__ or __name__).joinpath("static")
    return {name: _Asset(folder.joinpath(name).read_bytes(), media)
            for name, media in ASSETS.items()}


def ui_routes() -> list[Route]:
    """``/`` redirects to ``/ui/``; ``/ui/`` is the page, ``/ui/static/NAME`` its assets."""
    assets = _load()

    def serve(name: str) -> Response:
        asset = assets[name]
        return Response(asset.body, media_type=asset.media_type, headers=SECURITY_HEADERS)

    async def index(_: Request) -> Response:
        return serve("index.html")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response("not found\n", status_code=404, media_type="text/plain",
                            headers=SECURITY_HEADERS)
        return serve(name)

    async def root(_: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307, headers=SECURITY_HEADERS)

    return [Route("/", root), Route("/ui", root), Route("/ui/", index),
            Route("/ui/static/{name}", static)]
