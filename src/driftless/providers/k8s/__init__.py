"""The ``k8s`` provider: Kubernetes manifests rendered by kustomize and helm,
handed to a cluster's GitOps controller (Argo CD, Flux) through Git.

Kinds: ``kustomization`` and ``helm_release`` (a render kept in state),
``rendered_manifests`` (one app's render committed to
``envs/<env>/<app>/`` of a branch). driftless never talks to an API server
here: no cluster runs on the machines this is built on.

Extension point for direct apply: a future ``DirectApply`` implementation
(``apply.py``) would add kinds that take the same render (the objects of
``manifests.split_objects``) and server-side apply them with a field
manager, assess Deployment/StatefulSet health from their status, and prune
by an inventory of applied object keys kept in state. ``K8sProvider``
accepts such handlers through ``extra_handlers`` so that work adds kinds
without touching the hand-off. See docs/providers/kubernetes.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from driftless.providers.base import KindHandler
from driftless.providers.registry import LazyKindProvider

__all__ = ["K8sProvider"]

KIND_MODULES = {
    "kustomization": "render_kinds",
    "helm_release": "render_kinds",
    "rendered_manifests": "handoff",
}
"""kind -> the module of this package whose ``HANDLERS`` define it."""


class K8sProvider(LazyKindProvider):
    """Kubernetes manifests: render with the users' tools, hand off through Git."""

    name: ClassVar[str] = "k8s"

    def __init__(self, extra_handlers: Mapping[str, KindHandler] | None = None) -> None:
        if extra_handlers:
            raise NotImplementedError(
                "direct apply to an API server is not implemented; see "
                "docs/providers/kubernetes.md for the plan")
        super().__init__(__name__, KIND_MODULES)
