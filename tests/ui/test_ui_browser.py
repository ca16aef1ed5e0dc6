"""The web UI in a real browser, against a real agent and a real git server.

Each test starts ``git http-backend`` over HTTP, pushes a small project,
starts ``driftless agent`` as a subprocess on it and drives Debian's
Chromium through Playwright. Screenshots go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from agent_helpers import ADMIN, AgentProc, running_agent
from playwright.sync_api import Browser, Page, expect

from gitserver import Workdir, git_http_server, init_bare

API_TOKEN = "ui-canary-7d1f-not-to-be-shown"  # a sensitive variable's value
READER = "reader-token-for-ui-tests"
WAIT_MS = 20_000
# a property name that is markup: the agent's error quotes it, the page must show it as text
HOSTILE = """\
resources:
  page:
    type: local:file
    properties: {path: /tmp/never-written, "<img src=x onerror=document.title='pwned'>": 1}
"""


def project(out: Path, greeting: str) -> dict[str, str]:
    """One stack: a directory, a page and an env file (holding a secret) inside it."""
    mode = "0644" if greeting == "v1" else "0640"
    return {
        "driftless.yaml": "project: ui\nstate: sqlite:///.driftless/state.db\n"
                          "stacks: [stacks/web]\n",
        "stacks/web/stack.yaml": f"""\
variables:
  api_token: {{type: string, sensitive: true}}
resources:
  site:
    type: local:directory
    properties: {{path: {out}/site, make_parents: true}}
  page:
    type: local:file
    depends_on: [site]
    properties:
      path: {out}/site/index.html
      mode: "{mode}"
      content: |
        <h1>{greeting}</h1>
        <p>served by driftless</p>
  env:
    type: local:env_file
    depends_on: [site]
    properties:
      path: {out}/site/app.env
      values:
        GREETING: {greeting}
        API_TOKEN: ${{var.api_token}}
  stamp:
    type: local:command
    depends_on: [page]
    properties:
      command: |
        echo {greeting} > {out}/site/stamp.txt
        echo stamped
""",
    }


@contextmanager
def agent_on_repo(tmp_path: Path, *, env: dict[str, str] | None = None,
                  ) -> Iterator[tuple[Workdir, AgentProc, Path]]:
    """A served repo holding commit v1 and an agent (polling every second) synced to it."""
    out = tmp_path / "out"
    init_bare(tmp_path / "srv", "app.git")
    with git_http_server(tmp_path / "srv") as base:
        wd = Workdir.clone(f"{base}/app.git", tmp_path / "wd")
        wd.write(project(out, "v1")).commit("v1").push()
        with running_agent(tmp_path / "agent", "--source", f"{base}/app.git",
                           "--interval", "1", "--drift-interval", "3600",
                           env={"DRIFTLESS_VAR_api_token": API_TOKEN, **(env or {})}) as agent:
            head = wd.head()
            agent.wait(lambda s: s["revision"] == head and s["sync"] == "Synced"
                       and s["health"] == "Healthy")
            yield wd, agent, out


def use_token(page: Page, token: str) -> None:
    """Paste a token into the page's token form, as a user would."""
    if page.locator("#token-form").is_hidden():
        page.click("#token-button")
    page.fill("#token-input", token)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#token-form")).to_be_hidden()


def act(page: Page, action: str) -> None:
    """Click a stack action and check the agent accepted it (202, not an error)."""
    page.click(f"button[data-action={action}]")
    expect(page.locator("#flash")).to_have_text(re.compile(f"^{action} requested for web"))


def shot(page: Page, artifacts: Path, name: str) -> None:
    """Save a screenshot; the page never scrolls sideways and never shows the secret."""
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    assert API_TOKEN not in page.content()
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"{name}: the page is {wide}px wider than the window"


def test_push_reconcile_rollback_and_unpin(tmp_path: Path, browser: Browser,
                                           artifacts: Path) -> None:
    with agent_on_repo(tmp_path) as (wd, agent, out):
        v1 = wd.head()
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(agent.url + "/")  # redirects to /ui/
        row = page.locator("tr[data-stack=web]")
        expect(row.locator("td.rev")).to_have_text(v1[:7])
        expect(row).to_contain_text("Synced")
        expect(row).to_contain_text("Healthy")
        expect(page.locator("#fleet-link")).to_be_hidden()  # not in fleet mode

        # a push arrives by itself (the agent polls git, the page polls the agent)
        wd.write(project(out, "v2")).commit("v2").push()
        v2 = wd.head()
        expect(row.locator("td.rev")).to_have_text(v2[:7], timeout=WAIT_MS)
        assert "<h1>v2</h1>" in (out / "site" / "index.html").read_text()
        shot(page, artifacts, "stacks")

        # the stack page: resource tree with health, nested by dependency
        row.locator("td.name a").click()
        expect(page).to_have_url(re.compile(r"#/stacks/web$"))
        expect(page.locator("#revision")).to_have_text(v2[:7])
        site = page.locator(".tree > li[data-address='local:directory/site']")
        expect(site.locator("li[data-address='local:file/page']")).to_contain_text("Healthy")
        expect(site.locator("li[data-address='local:env_file/env']")).to_contain_text("Healthy")
        page_node = site.locator("li[data-address='local:file/page']")
        expect(page_node.locator("> .res code.loc")).to_have_text("stacks/web/stack.yaml:8:5")
        expect(page_node.locator("li[data-address='local:command/stamp']")).to_be_visible()
        expect(page.locator("#last-error")).to_have_count(0)
        shot(page, artifacts, "stack")

        # reconcile from the history page: one more entry, triggered by hand
        use_token(page, ADMIN)
        page.locator("nav.tabs a", has_text="History").click()
        entries = page.locator(".timeline > li")
        expect(entries.first).to_be_visible()
        before = entries.count()
        act(page, "reconcile")
        expect(entries).to_have_count(before + 1, timeout=WAIT_MS)
        expect(entries.first).to_contain_text("manual")

        # the plan that brought v2: its reason, and a masked line diff
        applied = page.locator(f".timeline > li[data-revision='{v2}']",
                               has=page.locator("details"))
        expect(applied).to_contain_text("changed in")
        applied.locator("summary").click()
        page_change = applied.locator(".change", has_text="local:file/page")
        expect(page_change).to_contain_text('mode"0644" → "0640"')
        expect(applied.locator(".change", has_text="local:env_file/env")).to_be_visible()
        script = applied.locator(".change", has_text="local:command/stamp").locator("pre.diff")
        expect(script.locator("span.old")).to_have_text(f"- echo v1 > {out}/site/stamp.txt")
        expect(script.locator("span.new")).to_have_text(f"+ echo v2 > {out}/site/stamp.txt")
        expect(script.locator("span")).to_have_class(["old", "new", "same"])  # - before +
        expect(script.locator("span.same")).to_have_text("  echo stamped")
        shot(page, artifacts, "history")
        page.set_viewport_size({"width": 390, "height": 844})  # the same page on a phone
        shot(page, artifacts, "history-phone")
        page.set_viewport_size({"width": 1100, "height": 700})

        # roll back to v1 from its history entry: pinned, and v1 is applied again
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(f".timeline > li[data-revision='{v1}'] button[data-action=rollback-to]"
                     ).first.click()
        expect(page.locator("#flash")).to_have_text(f"rollback requested for web; "
                                                    f"pinned to {v1[:7]}")
        expect(page.locator("#pin")).to_have_text(f"pinned to {v1[:7]}", timeout=WAIT_MS)
        expect(page.locator("#revision")).to_have_text(v1[:7], timeout=WAIT_MS)
        expect(entries.first).to_have_attribute("data-revision", v1, timeout=WAIT_MS)
        expect(entries.first.locator(".line")).to_contain_text("rollback")
        assert "<h1>v1</h1>" in (out / "site" / "index.html").read_text()
        assert (out / "site" / "stamp.txt").read_text() == "v1\n"
        shot(page, artifacts, "history-pinned")

        # suspend and resume, then unpin: the stack follows git (v2) again
        act(page, "suspend")
        expect(page.locator(".head .b-suspended")).to_be_visible(timeout=WAIT_MS)
        act(page, "resume")
        expect(page.locator(".head .b-suspended")).to_have_count(0, timeout=WAIT_MS)
        act(page, "unpin")
        expect(page.locator("#pin")).to_have_count(0, timeout=WAIT_MS)
        expect(page.locator("#revision")).to_have_text(v2[:7], timeout=WAIT_MS)

        # a broken (and hostile) commit: the error, with its file:line, shown as text
        wd.write({"stacks/web/stack.yaml": HOSTILE}).commit("bad").push()
        page.locator("nav.tabs a", has_text="Overview").click()
        error = page.locator("#last-error")
        expect(error.locator("code.loc").first).to_have_text("stacks/web/stack.yaml:4:17",
                                                             timeout=WAIT_MS)
        expect(error).to_contain_text("unknown property '<img src=x onerror=")
        assert page.locator("main img").count() == 0 and page.title() == "driftless · web"
        expect(page.locator(".head .title")).to_contain_text("Stalled")
        expect(page.locator(".facts")).to_contain_text("false (Stalled: RenderError)")
        expect(page.locator("#revision")).to_have_text(v2[:7])
        shot(page, artifacts, "stack-error")
        assert page.context.cookies() == []
        page.close()


def test_a_token_is_needed_to_read_and_the_admin_token_to_act(
        tmp_path: Path, browser: Browser, artifacts: Path) -> None:
    with agent_on_repo(tmp_path, env={"DRIFTLESS_READ_TOKEN": READER}) as (wd, agent, _):
        assert httpx.get(agent.url + "/api/v1/stacks", timeout=5).status_code == 401
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        resp = page.goto(agent.url + "/ui/")
        assert resp is not None and resp.ok
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        expect(page.locator("#need-token")).to_contain_text("401")
        expect(page.locator("#token-form")).to_be_visible()
        expect(page.locator("tr[data-stack=web]")).to_have_count(0)
        shot(page, artifacts, "need-token-phone")

        use_token(page, READER)
        row = page.locator("tr[data-stack=web]")
        expect(row.locator("td.rev")).to_have_text(wd.head()[:7])
        shot(page, artifacts, "stacks-phone")

        # the read token reads but cannot act: the action is refused, nothing recorded
        row.locator("td.name a").click()
        expect(page.locator("#revision")).to_have_text(wd.head()[:7])
        shot(page, artifacts, "stack-phone")
        requested = agent.get("/api/v1/stacks/web")["updated"]
        page.click("button[data-action=suspend]")
        expect(page.locator("#token-note")).to_have_text("suspend needs the admin token.")
        assert agent.get("/api/v1/stacks/web")["suspended"] is False
        assert agent.get("/api/v1/stacks/web")["updated"] >= requested
        assert page.evaluate("sessionStorage.getItem('driftless.token')") == READER
        assert page.context.cookies() == []

        # forgetting the token hides everything again
        page.click("#token-forget")
        expect(page.locator("#need-token")).to_be_visible()
        page.close()
