"""k8s:rendered_manifests commits renders to a real git server (git http-backend).

examples/product-variants renders managed-stage, managed-prod and local-acme
through the CLI into a served repository; a second run with no change makes no
commit; Secrets reach Git only SOPS-encrypted (a canary never appears in any
commit, and the committed file decrypts with the project's own codec).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyrage
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli_helpers import run
from driftless.errors import ProviderError
from driftless.model import Action, Resource, ResourceId, Sensitive
from driftless.providers.k8s import K8sProvider
from driftless.providers.testing import ConformanceCase, check_provider
from driftless.secrets.age_keys import KeyRing
from driftless.secrets.sops import decrypt_text
from gitserver import GitHttpServer, Workdir, git, init_bare

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "product-variants"
CASES = Path(__file__).parent / "cases"
ENVS = ("managed-stage", "managed-prod", "local-acme")
CANARY = "canary-db-7Hq2ZpX91vLm"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    init_bare(tmp_path / "git", "manifests.git")
    with GitHttpServer(tmp_path / "git") as srv:
        yield f"{srv.url}/manifests.git"


def _log(bare: Path) -> list[str]:
    return git("--git-dir", str(bare), "log", "--all", "--format=%H").split()


def _res(**props: Any) -> Resource:
    return Resource(ResourceId("k8s", "rendered_manifests", "apps"), props)


def test_conformance_rendered_manifests(served: str) -> None:
    base = {"repo": served, "environment": "stage", "app": "shop",
            "kustomization": str(CASES / "images" / "kustomization.yaml")}
    check_provider(K8sProvider(), [ConformanceCase(
        _res(**base), _res(**base, images=[{"name": "registry.example/api",
                                           "new_tag": "2.0.0"}]))])


def test_unchanged_render_makes_no_commit_and_drift_is_shown(tmp_path: Path,
                                                             served: str) -> None:
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    props = {"repo": served, "environment": "prod", "app": "app",
             "kustomization": str(CASES / "generators" / "kustomization.yaml"),
             "secrets": {"db": {"namespace": "app", "data": {"PASSWORD": Sensitive(CANARY)}}},
             "sops_recipients": [recipient]}
    provider = K8sProvider()
    live = provider.apply(provider.diff(_res(**props), None))
    bare = tmp_path / "git" / "manifests.git"
    commits = _log(bare)
    assert len(commits) == 1
    history = git("--git-dir", str(bare), "log", "-p")
    assert CANARY not in history  # a secret of driftless's values ...
    assert "bm90LXJlYWxseS1zZWNyZXQ=" not in history  # ... and a secretGenerator's
    again = provider.diff(_res(**props), provider.read(_res(**props), live))
    assert again.action is Action.NOOP  # encrypted Secrets keep their bytes
    provider.apply(again)
    assert _log(bare) == commits
    # a hand edit of one object in the branch: the plan names that file alone
    wd = Workdir.clone(served, tmp_path / "wd")
    target = "envs/prod/app/deployment-app.yaml"
    wd.write({target: "edited: by hand\n"}).commit("hand edit").push()
    drift = provider.diff(_res(**props), provider.read(_res(**props), live))
    assert drift.action is Action.UPDATE
    assert [d.path for d in drift.diffs] == [f"files.{target}"]
    assert drift.diffs[0].before == "edited: by hand\n"
    provider.apply(drift)
    assert len(_log(bare)) == 3


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "product"
    shutil.copytree(EXAMPLE, root)
    (root / "driftless.yaml").write_text(
        (root / "driftless.yaml").read_text() + "state: sqlite:///.driftless/state.db\n")
    Workdir.init(root).write({}).commit("product revision")
    return root


def test_product_variants_handed_off_per_environment(tmp_path: Path, served: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    identity = pyrage.x25519.Identity.generate()
    monkeypatch.setenv("DRIFTLESS_VAR_manifests_repo", served)
    monkeypatch.setenv("DRIFTLESS_VAR_sops_recipients", f"[{identity.to_public()}]")
    monkeypatch.setenv("DRIFTLESS_VAR_db_password", CANARY)
    monkeypatch.setenv("DRIFTLESS_VAR_agent_token", "agent-token-canary")
    root = _project(tmp_path)
    revision = git("rev-parse", "HEAD", cwd=root).strip()
    bare = tmp_path / "git" / "manifests.git"
    for env in ENVS:
        proc = run(root, "apply", "--auto-approve", "--env", env, "--stack", "cluster",
                   check=True)  # the plan it shows names each object file
        assert f"files.envs/{env}/apps/deployment-product-api.yaml" in proc.stdout
        assert CANARY not in proc.stdout + proc.stderr
    first = _log(bare)
    assert len(first) == 9  # secrets, agent, apps per environment
    for env in ENVS:
        proc = run(root, "apply", "--auto-approve", "--env", env, "--stack", "cluster",
                   check=True)
        assert "No changes" in proc.stdout, proc.stdout
    assert _log(bare) == first
    wd = Workdir.clone(served, tmp_path / "check")
    _check_tree(wd.path, revision)
    history = git("--git-dir", str(bare), "log", "--all", "-p")
    assert CANARY not in history and "agent-token-canary" not in history
    secret = (wd.path / "envs/local-acme/secrets/secret-product-product-db.yaml").read_text()
    plain = decrypt_text(secret, fmt="yaml", keys=KeyRing((identity,)))
    assert plain.data["stringData"]["DATABASE_PASSWORD"] == CANARY


def _check_tree(top: Path, revision: str) -> None:
    files = sorted(p.relative_to(top).as_posix() for p in (top / "envs").rglob("*.yaml"))
    assert {f.split("/")[1] for f in files} == set(ENVS)
    managed = yaml.safe_load((top / "envs/managed-prod/apps/deployment-product-api.yaml")
                             .read_text())
    assert managed["spec"]["replicas"] == 3
    assert managed["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "2"
    assert managed["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "ghcr.io/product/api:1.17.2"
    assert "envs/managed-prod/flux-system/apps.yaml" not in files
    flux = yaml.safe_load((top / "envs/local-acme/flux-system/apps.yaml").read_text())
    assert flux["spec"]["dependsOn"] == [{"name": "local-acme-agent"}]
    assert flux["spec"]["path"] == "./envs/local-acme/apps"
    ingress = yaml.safe_load((top / "envs/local-acme/apps/ingress-product.yaml").read_text())
    assert ingress["spec"]["rules"][0]["host"] == "acme.internal"
    assert any(f.startswith("envs/local-acme/apps/configmap-product-product-config-")
               for f in files)
    subject = git("log", "-1", "--format=%B", "--", "envs/managed-stage/apps", cwd=top)
    assert f"source revision: {revision}" in subject and "plan digest: sha256:" in subject


def test_chart_hand_off_with_argocd_waves_to_a_local_repository(tmp_path: Path) -> None:
    """A helm chart through the hand-off, committed to a plain path repository; Argo CD
    waves are added to every object; a clear Secret without recipients is refused."""
    bare = init_bare(tmp_path, "local.git")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-cfg}\n"
        "data: {color: {{ .Values.color | quote }}}\n")
    props: dict[str, Any] = {
        "repo": str(bare), "environment": "edge", "app": "demo",
        "chart": str(chart / "Chart.yaml"),
        "helm": {"release": "demo", "namespace": "demo", "values": {"color": "red"}},
        "ordering": "argocd", "wave": 3}
    provider = K8sProvider()
    live = provider.apply(provider.diff(_res(**props), None))
    assert live is not None
    assert list(live.attributes["files"]) == ["envs/edge/demo/configmap-demo-cfg.yaml"]
    text = git("--git-dir", str(bare), "show", "HEAD:envs/edge/demo/configmap-demo-cfg.yaml")
    assert yaml.safe_load(text)["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-wave": "3"}
    (chart / "templates" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: clear}\nstringData: {k: v}\n")
    with pytest.raises(ProviderError, match=r"Secret//clear would be committed in clear"):
        provider.diff(_res(**props), live)
    assert len(_log(bare)) == 1
