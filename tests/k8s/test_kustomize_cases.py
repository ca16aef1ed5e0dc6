"""k8s:kustomization renders real kustomize directories exactly as `kubectl kustomize`.

The cases under cases/ use namePrefix, commonLabels, strategic-merge and
JSON6902 patches, images and generators with hash suffixes. Real kubectl;
a missing kubectl fails these tests (scripts/test-deps.sh installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import ProviderError
from driftless.model import Action, Resource, ResourceId
from driftless.providers.k8s import K8sProvider
from driftless.providers.testing import ConformanceCase, check_provider

CASES = Path(__file__).parent / "cases"
DIRS = ["name-prefix-labels", "smp-patch/overlay", "json6902/overlay", "images", "generators"]


def _kubectl(directory: Path) -> str:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is not installed: run scripts/test-deps.sh"
    proc = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True,
                          text=True, check=True)
    return proc.stdout


def _res(name: str = "r", **props: Any) -> Resource:
    return Resource(ResourceId("k8s", "kustomization", name), props)


def _render(props: dict[str, Any]) -> dict[str, Any]:
    provider = K8sProvider()
    change = provider.diff(_res(**props), None)
    assert change.action is Action.CREATE
    live = provider.apply(change)
    assert live is not None
    return dict(live.attributes)


@pytest.mark.parametrize("case", DIRS)
def test_render_equals_kubectl_kustomize(case: str) -> None:
    directory = CASES / case
    attrs = _render({"path": str(directory / "kustomization.yaml")})
    expected = _kubectl(directory)
    assert attrs["manifests"] == expected
    assert len(attrs["objects"]) == expected.count("\nkind: ") + expected.startswith("kind: ")


def test_generated_overlay_equals_a_hand_written_one(tmp_path: Path) -> None:
    """driftless's values (images, configMapGenerator literals, patches, namespace) give
    what kustomize gives for the same overlay written by hand next to the base."""
    values = {
        "namespace": "stage",
        "images": [{"name": "registry.example/api", "new_tag": "9.9.9"}],
        "config_maps": [{"name": "app-config", "behavior": "merge",
                         "literals": {"MODE": "stage", "DEBUG": True}}],
        "patches": [{"patch": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "metadata": {"name": "app"}, "spec": {"replicas": 3}}},
                    {"patch": [{"op": "add", "path": "/metadata/labels",
                                "value": {"stage": "yes"}}],
                     "target": {"kind": "Deployment", "name": "app"}}],
    }
    attrs = _render({"path": str(CASES / "generators" / "kustomization.yaml"), **values})
    hand = tmp_path / "hand"
    hand.mkdir()
    base = os.path.relpath(CASES / "generators", hand)
    (hand / "kustomization.yaml").write_text(
            f"namespace: stage\nresources: [{base}]\n"
            "images:\n- {name: registry.example/api, newTag: 9.9.9}\n"
            "configMapGenerator:\n- name: app-config\n  behavior: merge\n"
            "  literals: [DEBUG=true, MODE=stage]\n"
            "patches:\n- patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n"
            "    metadata: {name: app}\n    spec: {replicas: 3}\n"
            "- target: {kind: Deployment, name: app}\n"
            "  patch: '[{\"op\": \"add\", \"path\": \"/metadata/labels\", "
            "\"value\": {\"stage\": \"yes\"}}]'\n")
    assert attrs["manifests"] == _kubectl(hand)
    assert "app-config-" in attrs["manifests"] and "MODE: stage" in attrs["manifests"]


def test_plan_shows_changed_objects_one_by_one(tmp_path: Path) -> None:
    provider = K8sProvider()
    path = str(CASES / "images" / "kustomization.yaml")
    live = provider.apply(provider.diff(_res(path=path), None))
    assert live is not None
    change = provider.diff(_res(path=path, images=[{"name": "mirror.example/product/web",
                                                     "new_tag": "3.0"}]), live)
    assert change.action is Action.UPDATE
    assert [d.path for d in change.diffs] == ["objects.Deployment//product"]
    assert provider.diff(_res(path=path), live).action is Action.NOOP


def test_conformance_kustomization() -> None:
    path = str(CASES / "name-prefix-labels" / "kustomization.yaml")
    check_provider(K8sProvider(), [ConformanceCase(
        _res(path=path), _res(path=path, name_prefix="beta-"))])


@pytest.mark.parametrize(("line", "why"), [
    ("resources: [https://github.com/kubernetes-sigs/kustomize//examples/helloWorld]",
     "not a path inside the project"),
    ("resources: [/etc]", "not a path inside the project"),
    ("resources: [../../../../..]", "outside the project"),
    ("helmCharts: [{name: x}]", "use k8s:helm_release"),
])
def test_untrusted_references_are_refused(tmp_path: Path, line: str, why: str) -> None:
    (tmp_path / "driftless.yaml").write_text("project: p\n")
    kdir = tmp_path / "k"
    kdir.mkdir()
    (kdir / "kustomization.yaml").write_text(line + "\n")
    with pytest.raises(ProviderError, match=why):
        _render({"path": str(kdir / "kustomization.yaml")})


def test_helm_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # whatever the machine has, no helm here
    provider = K8sProvider()
    res = Resource(ResourceId("k8s", "helm_release", "demo"),
                   {"chart": str(chart / "Chart.yaml"), "release": "demo"})
    with pytest.raises(ProviderError, match=r"helm is not installed") as info:
        provider.apply(provider.diff(res, None))
    assert "install the helm 3 binary" in (info.value.hint or "")


def test_helm_renders_when_installed(tmp_path: Path) -> None:
    """Real helm (scripts/test-deps.sh installs it; missing, this test fails)."""
    assert shutil.which("helm"), "helm is not installed: run scripts/test-deps.sh as root"
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\n"
        "data: {color: {{ .Values.color | quote }}}\n")
    provider = K8sProvider()
    res = Resource(ResourceId("k8s", "helm_release", "demo"),
                   {"chart": str(chart / "Chart.yaml"), "release": "demo",
                    "values": {"color": "blue"}})
    live = provider.apply(provider.diff(res, None))
    assert live is not None and 'color: "blue"' in live.attributes["manifests"]
    argv = ["helm", "template", "demo", str(chart), "--set", "color=blue"]
    expected = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert live.attributes["manifests"] == expected
    assert list(live.attributes["objects"]) == ["ConfigMap//demo"]
    check_provider(provider, [ConformanceCase(
        Resource(ResourceId("k8s", "helm_release", "conf"), {**res.properties}),
        Resource(ResourceId("k8s", "helm_release", "conf"),
                 {**res.properties, "values": {"color": "green"}}))])


def test_a_chart_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "driftless.yaml").write_text("project: p\n")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "files").mkdir()
    (chart / "files" / "key").symlink_to("/etc/hostname")
    provider = K8sProvider()
    res = Resource(ResourceId("k8s", "helm_release", "demo"),
                   {"chart": str(chart / "Chart.yaml"), "release": "demo"})
    with pytest.raises(ProviderError, match="links outside the project"):
        provider.apply(provider.diff(res, None))


def test_a_kustomize_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    (tmp_path / "driftless.yaml").write_text("project: p\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    kdir = tmp_path / "k"
    kdir.mkdir()
    (kdir / "cm.yaml").symlink_to(outside / "cm.yaml")
    (kdir / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    with pytest.raises(ProviderError, match="outside the project"):
        _render({"path": str(kdir / "kustomization.yaml")})
