"""``k8s:kustomization`` and ``k8s:helm_release``: a render kept in state.

Their object is the render itself: ``read`` returns what was recorded, and
``diff`` renders again and compares object by object (``objects.<Kind/ns/name>``),
so a plan shows which objects a change of the directory, chart or values
moves. ``manifests`` (the whole render) can feed another resource, such as a
``k8s:rendered_manifests`` or a ``local:file``. Nothing outside state is
created or deleted. I/O: the render (``kustomize``, ``helm``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from driftless.model import Action, Change, FieldDiff, LiveResource, Resource
from driftless.providers.base import KindHandler, KindSpec
from driftless.providers.k8s.helm import HelmValues, chart_dir, render_helm
from driftless.providers.k8s.kustomize import (
    KustomizeValues,
    kustomization_dir,
    render_kustomize,
)
from driftless.providers.k8s.manifests import digest_text, split_objects

__all__ = ["HANDLERS", "HelmReleaseProps", "KustomizationProps"]

_ATTRIBUTES = {
    "digest": "sha256 of the whole render",
    "objects": "Kind/namespace/name -> sha256 of that object's text",
    "manifests": "the rendered YAML, exactly as the tool wrote it",
}


class KustomizationProps(KustomizeValues):
    """Properties of ``k8s:kustomization``."""

    path: str = Field(description="the kustomization.yaml of the directory to render, "
                      "relative to the stack")


class HelmReleaseProps(HelmValues):
    """Properties of ``k8s:helm_release``."""

    chart: str = Field(description="the chart's Chart.yaml, relative to the stack")


def render_kustomization(resource: Resource, props: KustomizationProps) -> str:
    """The render of a ``k8s:kustomization``'s properties."""
    values = KustomizeValues.model_validate(props.model_dump(exclude={"path"}))
    return render_kustomize(resource.id, kustomization_dir(resource.id, props.path), values)


def render_chart(resource: Resource, props: HelmReleaseProps) -> str:
    """The render of a ``k8s:helm_release``'s properties."""
    values = HelmValues.model_validate(props.model_dump(exclude={"chart"}))
    return render_helm(resource.id, chart_dir(resource.id, props.chart), values)


def live_render(resource: Resource, rendered: str) -> LiveResource:
    """The render as the resource's attributes."""
    objects = {o.key: digest_text(o.text) for o in split_objects(resource.id, rendered)}
    return LiveResource(resource.id, {"digest": digest_text(rendered), "objects": objects,
                                      "manifests": rendered})


class _RenderHandler(KindHandler):
    def render(self, resource: Resource) -> str:
        raise NotImplementedError

    def _render(self, resource: Resource) -> LiveResource:
        return live_render(resource, self.render(resource))

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """What was recorded (the render lives in state only)."""
        return prior

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Render now and compare each object with the recorded render."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, reason="not rendered yet")
        now = self._render(desired)
        if now.attributes["digest"] == live.attributes.get("digest"):
            return Change(desired.id, Action.NOOP, desired, live)
        diffs = object_diffs(live.attributes.get("objects") or {}, now.attributes["objects"])
        return Change(desired.id, Action.UPDATE, desired, live, diffs or (
            FieldDiff("digest", live.attributes.get("digest"), now.attributes["digest"]),),
            reason=f"{len(diffs)} rendered object(s) changed")

    def create(self, change: Change) -> LiveResource:
        """Render and record."""
        assert change.desired is not None
        return self._render(change.desired)

    def update(self, change: Change) -> LiveResource:
        """Render and record (nothing to remove first)."""
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Nothing outside state to remove."""


def object_diffs(before: dict[str, Any], after: dict[str, Any]) -> tuple[FieldDiff, ...]:
    """One diff per object added, changed or removed, by ``Kind/namespace/name``."""
    return tuple(FieldDiff(f"objects.{key}", before.get(key), after.get(key))
                 for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key))


class KustomizationHandler(_RenderHandler):
    """Render a kustomize directory with kustomize itself."""

    def render(self, resource: Resource) -> str:
        """``kustomize`` on the directory, through the generated overlay when needed."""
        return render_kustomization(resource, self.parse(resource))

    spec: ClassVar[KindSpec] = KindSpec(
        name="kustomization", schema=KustomizationProps,
        description="a kustomize directory rendered with `kustomize build` or `kubectl "
        "kustomize`; driftless values reach it through a generated overlay",
        attributes=_ATTRIBUTES, read_fields=frozenset({"path"}),
        update_changes=frozenset(_ATTRIBUTES))


class HelmReleaseHandler(_RenderHandler):
    """Render a chart with ``helm template``."""

    def render(self, resource: Resource) -> str:
        """``helm template`` of the chart."""
        return render_chart(resource, self.parse(resource))

    spec: ClassVar[KindSpec] = KindSpec(
        name="helm_release", schema=HelmReleaseProps,
        description="a Helm chart rendered with `helm template` (helm must be installed)",
        attributes=_ATTRIBUTES, read_fields=frozenset({"chart"}),
        update_changes=frozenset(_ATTRIBUTES))


HANDLERS: dict[str, KindHandler] = {"kustomization": KustomizationHandler(),
                                    "helm_release": HelmReleaseHandler()}
