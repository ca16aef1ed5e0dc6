"""Image automation: tags from OCI registries, update policies, Flux setter markers,
commits by a bot (see docs/operations/delivery.md)."""

from driftless.images.config import ImageSettings, UpdateSettings, image_settings
from driftless.images.policy import ImagePolicy, TagFilter
from driftless.images.registry import (
    ENV_REGISTRY_CONFIG,
    ImageRef,
    RegistryClient,
    load_credentials,
)
from driftless.images.setters import LatestImage, SetterChange, update_text, update_tree
from driftless.images.update import Update, UpdateReport, resolve, run_update

__all__ = [
    "ENV_REGISTRY_CONFIG",
    "ImagePolicy",
    "ImageRef",
    "ImageSettings",
    "LatestImage",
    "RegistryClient",
    "SetterChange",
    "TagFilter",
    "Update",
    "UpdateReport",
    "UpdateSettings",
    "image_settings",
    "load_credentials",
    "resolve",
    "run_update",
    "update_text",
    "update_tree",
]
