"""End to end: tags pushed to a real docker-registry (token auth) drive an update
commit to a served git repository, and the agent deploys that commit; a major
bump goes to a branch of its own for review instead."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from oci_registry import PASSWORD, USER, running_registry

sys.path.insert(0, str(Path(__file__).parents[1] / "agent"))

from agent_helpers import running_agent

from cli_helpers import run
from gitserver import Workdir, git, git_http_server, init_bare


def _project(host: str, out: Path) -> dict[str, str]:
    return {
        "driftless.yaml": f"""\
project: shop
state: sqlite:///.driftless/state.db
stacks: [stacks/web]
settings:
  images:
    repositories:
      api: {{image: {host}/shop/api}}
      web: {{image: {host}/shop/web}}
    policies:
      shop:api: {{repository: api, semver: {{range: ">=1.0.0 <2.0.0"}}}}
      shop:web: {{repository: web, semver: {{range: ">=1.0.0"}}}}
    update:
      paths: [stacks]
      author: {{name: images-bot, email: images-bot@driftless.invalid}}
      message: "images: {{summary}}"
      review: major
""",
        "stacks/web/stack.yaml": f"""\
variables:
  api_image:
    type: string
    default: {host}/shop/api:1.0.0 # {{"$imagepolicy": "shop:api"}}
  web_tag:
    type: string
    default: "1.0.0" # {{"$imagepolicy": "shop:web:tag"}}
resources:
  page:
    type: local:file
    properties:
      path: {out}
      content: "api ${{var.api_image}} web ${{var.web_tag}}\\n"
""",
    }


def test_registry_tags_become_a_deployed_commit(tmp_path: Path) -> None:
    out = tmp_path / "out" / "page.txt"
    out.parent.mkdir()
    creds = tmp_path / "registry-auth.json"
    (tmp_path / "registry").mkdir()
    with running_registry(tmp_path / "registry") as reg:
        creds.write_text(json.dumps({"auths": {reg.host: {"username": USER,
                                                          "password": PASSWORD}}}))
        for name, tag in [("shop/api", "1.0.0"), ("shop/api", "1.1.0"),
                          ("shop/api", "1.2.0-rc.1"), ("shop/api", "2.0.0"),
                          ("shop/web", "1.0.0"), ("shop/web", "2.0.0")]:
            reg.push_tag(name, tag)
        init_bare(tmp_path / "srv", "app.git")
        with git_http_server(tmp_path / "srv") as base:
            wd = Workdir.clone(f"{base}/app.git", tmp_path / "wd")
            wd.write(_project(reg.host, out)).commit("shop").push()
            first = wd.head()

            dry = run(wd.path, "images", "update", "--dry-run", "--registry-config", str(creds))
            assert dry.returncode == 0, dry.stderr
            assert "push to main  (would commit)" in dry.stdout
            assert "branch for review: images/shop-web-2.0.0" in dry.stdout
            assert git("rev-parse", "HEAD", cwd=wd.path).strip() == first
            assert git("status", "--porcelain", cwd=wd.path) == ""

            env = {"DRIFTLESS_REGISTRY_CONFIG": str(creds)}
            with running_agent(tmp_path / "agent", "--source", f"{base}/app.git",
                               "--interval", "3600", "--image-interval", "3600",
                               env=env) as agent:
                status = agent.wait(lambda s: s["revision"] != first and s["sync"] == "Synced",
                                    timeout=60)
            remote = tmp_path / "check"
            Workdir.clone(f"{base}/app.git", remote)
            head = git("rev-parse", "origin/main", cwd=remote).strip()
            assert status["revision"] == head
            assert out.read_text() == f"api {reg.host}/shop/api:1.1.0 web 1.0.0\n"
            log = git("log", "-1", "--format=%an <%ae>%n%s%n%b", "origin/main", cwd=remote)
            assert log.startswith("images-bot <images-bot@driftless.invalid>\n"
                                  "images: shop:api api:1.0.0 → api:1.1.0 [skip ci]\n")
            assert "stacks/web/stack.yaml:4:" in log
            stack = (remote / "stacks/web/stack.yaml").read_text()
            assert f'default: {reg.host}/shop/api:1.1.0 # {{"$imagepolicy": "shop:api"}}' \
                in stack and 'default: "1.0.0" # {"$imagepolicy": "shop:web:tag"}' in stack
            review = git("show", "origin/images/shop-web-2.0.0:stacks/web/stack.yaml",
                         cwd=remote)
            assert 'default: "2.0.0" # {"$imagepolicy": "shop:web:tag"}' in review
            diff = git("diff", "--unified=0", "origin/main", "origin/images/shop-web-2.0.0",
                       cwd=remote)
            changed = [line for line in diff.splitlines()
                       if line[:1] in "+-" and not line.startswith(("+++", "---"))]
            assert changed == ['-    default: "1.0.0" # {"$imagepolicy": "shop:web:tag"}',
                               '+    default: "2.0.0" # {"$imagepolicy": "shop:web:tag"}'], \
                "the review branch adds only its own change to main"
