"""The UI's server side in-process: assets, security headers, the JSON it reads."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from starlette.testclient import TestClient

from driftless.agent import Agent, AgentConfig, SourceConfig, StackStatus
from driftless.agent.api import build_app
from driftless.agent.context import ReconcileContext
from driftless.agent.inventory import CHANGES_KEEP, VALUE_KEEP, change_docs, resource_docs
from driftless.agent.ui import ASSETS
from driftless.model import (
    Action,
    Change,
    FieldDiff,
    Health,
    HealthCode,
    HistoryEntry,
    Plan,
    Resource,
    ResourceId,
    Sensitive,
    SourceLocation,
)

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "driftless" / "agent" / "ui" / "static"
ADMIN = {"Authorization": "Bearer admin-1"}
READ = {"Authorization": "Bearer reader"}


def _agent(tmp_path: Path, *, read_token: str | None = None) -> Agent:
    cfg = AgentConfig(
        sources=(SourceConfig("app", str(tmp_path / "repo")),), state_dir=tmp_path / "state",
        admin_token=Sensitive("admin-1"),
        read_token=Sensitive(read_token) if read_token else None)
    agent = Agent(cfg)
    agent.store.put_status(StackStatus("web", source="app", revision="a" * 40))
    return agent


def test_page_and_assets_carry_a_strict_policy(tmp_path: Path) -> None:
    client = TestClient(build_app(_agent(tmp_path, read_token="reader")))
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/ui/"
    page = client.get("/ui/")  # the page holds no data, so it needs no token
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for rule in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                 "connect-src 'self'", "frame-ancestors 'none'"):
        assert rule in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in page.headers
    for name, media in ASSETS.items():
        resp = client.get(f"/ui/static/{name}")
        assert resp.status_code == 200, name
        assert resp.headers["content-type"].split(";")[0] == media.split(";")[0]
        assert resp.headers["x-content-type-options"] == "nosniff"
    for bad in ("nope.js", "..%2Fapi.py", "__init__.py"):
        assert client.get(f"/ui/static/{bad}").status_code == 404
    assert client.get("/api/v1/stacks").status_code == 401  # the data still needs it


def test_assets_are_small_local_and_script_free_html() -> None:
    html = (STATIC / "index.html").read_text()
    js = (STATIC / "app.js").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert not re.search(r"\son\w+=|\sstyle=", html)  # no inline handlers or styles
    assert not re.search(r"(?:src|href)=\"(?:https?:)?//", html)  # no CDN
    assert "innerHTML" not in js and "eval(" not in js and "document.cookie" not in js
    assert 'credentials: "omit"' in js and "sessionStorage" in js
    total = sum((STATIC / name).stat().st_size for name in ASSETS)
    assert total < 64 * 1024, f"UI assets grew to {total} bytes"


def test_pyproject_ships_every_asset_in_the_wheel() -> None:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = doc["tool"]["setuptools"]["package-data"]["driftless"]
    for name in ASSETS:
        rel = f"agent/ui/static/{name}"
        assert any(fnmatch.fnmatch(rel, g) for g in globs), rel
        assert (STATIC / name).is_file()


def _change(rid: ResourceId, action: Action, *diffs: FieldDiff) -> Change:
    return Change(rid, action, diffs=diffs, reason="content changed",
                  depends_on=(ResourceId("local", "directory", "site"),))


def test_changes_in_history_are_masked_and_bounded(tmp_path: Path) -> None:
    page = ResourceId("local", "file", "page")
    secret = "s3cret-canary-value-0042"
    plan = Plan("web", "r1", "d", "l", 1, (
        _change(page, Action.UPDATE,
                FieldDiff("content", "x" * (VALUE_KEEP + 50), "y"),
                FieldDiff("token", Sensitive(secret), Sensitive(secret + "2"), sensitive=True),
                FieldDiff("vars", {"a": Sensitive(secret)}, {"a": "clear"})),
        Change(ResourceId("local", "file", "same"), Action.NOOP),
    ))
    docs = change_docs(plan)
    assert [d["address"] for d in docs] == ["local:file/page"]  # no-ops are left out
    diffs = {d["path"]: d for d in docs[0]["diffs"]}
    assert diffs["content"]["before"].endswith("... (50 more characters)")
    assert diffs["token"]["before"] == "(sensitive)"
    assert diffs["vars"]["before"] == {"a": "(sensitive)"}
    many = Plan("web", "r1", "d", "l", 1, tuple(
        _change(ResourceId("local", "file", f"f{i}"), Action.CREATE)
        for i in range(CHANGES_KEEP + 5)))
    assert change_docs(many)[-1]["address"] == "... and 5 more"

    agent = _agent(tmp_path, read_token="reader")
    agent.store.add_history(HistoryEntry("web", "r1", "d", "poll", 1.0, 0.1,
                                         {"update": 1}, changes=docs))
    client = TestClient(build_app(agent))
    assert client.get("/api/v1/stacks/web/history").status_code == 401
    resp = client.get("/api/v1/stacks/web/history", headers=READ)
    assert resp.json()["history"][0]["changes"][0]["address"] == "local:file/page"
    assert secret not in resp.text


def test_resources_endpoint_lists_health_dependencies_and_file_line(tmp_path: Path) -> None:
    site, page = ResourceId("local", "directory", "site"), ResourceId("local", "file", "page")
    desired = SimpleNamespace(resources=[
        Resource(site, source=SourceLocation("stacks/web/stack.yaml", 3, 5)),
        Resource(page, depends_on=(site,), source=SourceLocation("stacks/web/stack.yaml", 7, 5)),
    ])
    plan = Plan("web", "r1", "d", "l", 1, (
        Change(site, Action.NOOP), _change(page, Action.UPDATE)))
    ctx = cast(ReconcileContext, SimpleNamespace(
        plan=plan, desired=desired,
        healths={page: Health(HealthCode.DEGRADED, "missing file"), site: Health.healthy()}))
    docs = resource_docs(ctx)
    assert [d["address"] for d in docs] == ["local:directory/site", "local:file/page"]
    by: dict[str, Any] = {d["address"]: d for d in docs}
    assert by["local:file/page"]["health"] == "Degraded"
    assert by["local:file/page"]["message"] == "missing file"
    assert by["local:file/page"]["depends_on"] == ["local:directory/site"]
    assert by["local:file/page"]["action"] == "update"
    assert by["local:file/page"]["source"] == "stacks/web/stack.yaml:7:5"
    assert by["local:directory/site"]["action"] == "no-op"

    agent = _agent(tmp_path, read_token="reader")
    agent.store.put_resources("web", docs)
    client = TestClient(build_app(agent))
    assert client.get("/api/v1/stacks/web/resources").status_code == 401
    for headers in (READ, ADMIN):
        got = client.get("/api/v1/stacks/web/resources", headers=headers).json()
        assert got["resources"] == docs
    assert client.get("/api/v1/stacks/other/resources", headers=READ).json() == {
        "resources": []}
