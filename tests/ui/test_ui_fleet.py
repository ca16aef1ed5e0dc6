"""The fleet page in a real browser, against a real agent in fleet mode on a real etcd.

The agent is the only node of its fleet; a revision whose command sleeps a few
seconds keeps its rollout slot held long enough for the page to show it, then
the page sees the node healthy on the revision and the slot free again; a
revision failing on this node (the canary) shows its halt record. Screenshots
(phone-sized) go to ``test-artifacts/ui/fleet*.png``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from agent_harness import AgentFleet
from agent_helpers import ADMIN, running_agent
from playwright.sync_api import Browser, expect

from driftless.fleet.etcd import EtcdCoordinator

WAIT_MS = 20_000


def test_fleet_page_shows_this_node_its_slot_and_the_counts(
        etcd_url: str, tmp_path: Path, browser: Browser, artifacts: Path) -> None:
    prefix = f"/ui-{uuid.uuid4().hex[:8]}"
    coord = EtcdCoordinator(etcd_url, prefix=prefix)
    fleet = AgentFleet(tmp_path, f"etcd://{etcd_url[7:]}{prefix}", coord, 1)
    fleet.commit("idle", role="nobody")
    (tmp_path / "out").mkdir()
    env = {"DRIFTLESS_FLEET": fleet.store_url, "DRIFTLESS_NODE_NAME": "node-000",
           "DRIFTLESS_NODE_ADDRESS": "10.0.0.7", "DRIFTLESS_NODE_TAGS": "role=worker",
           "DRIFTLESS_FLEET_TTL": "3", "DRIFTLESS_FLEET_POLL": "0.3",
           "DRIFTLESS_VAR_out_dir": str(tmp_path / "out")}
    try:
        with running_agent(tmp_path / "agent", "--source", str(fleet.repo), "--interval",
                           "0.5", "--drift-interval", "3600", env=env) as agent:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(agent.url + "/ui/")
            page.evaluate(f"sessionStorage.setItem('driftless.token', '{ADMIN}')")
            page.goto(agent.url + "/ui/#/fleet")
            expect(page.locator("#fleet-link")).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#fleet-node")).to_contain_text("node-000")
            expect(page.locator("#fleet-node")).to_contain_text("10.0.0.7")
            expect(page.locator("#my-slots")).to_have_text("none")

            rollout = fleet.commit("v1", command="sleep 5")
            card = page.locator(f'section[data-rollout="{rollout}"]')
            expect(page.locator("#my-slots")).to_contain_text(f"slot 0 of {rollout}",
                                                              timeout=WAIT_MS)
            expect(card.locator('[data-holder="node-000"]')).to_contain_text("this node")
            expect(card.locator('[data-phase="in_progress"] .n')).to_have_text("1")
            expect(card).to_contain_text("slots in use 1 of 1")
            expect(page.locator('tr[data-peer="node-000"]')).to_contain_text("this node")
            page.screenshot(path=str(artifacts / "fleet.png"), full_page=True)
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"the fleet page is {wide}px wider than a phone"

            expect(card.locator('[data-phase="healthy"] .n')).to_have_text("1", timeout=WAIT_MS)
            expect(card.locator('[data-phase="in_progress"] .n')).to_have_text("0")
            expect(card).to_contain_text("no slot in use")
            expect(page.locator("#my-slots")).to_have_text("none")
            page.screenshot(path=str(artifacts / "fleet-done.png"), full_page=True)

            # a revision failing on the canary (this node) halts its rollout
            bad = fleet.commit("v2", command="exit 1")
            halt = page.locator(f'section[data-rollout="{bad}"] .halt')
            expect(halt).to_contain_text("canary node-000 failed", timeout=WAIT_MS)
            expect(halt).to_contain_text(f"driftless fleet resume {bad}")
            expect(page.locator(f'section[data-rollout="{bad}"] [data-phase="failed"] .n')
                   ).to_have_text("1")
            expect(card).to_be_visible()  # the earlier rollout stays listed
            page.screenshot(path=str(artifacts / "fleet-halted.png"), full_page=True)
    finally:
        coord.close()
