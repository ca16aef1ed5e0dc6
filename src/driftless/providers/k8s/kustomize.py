"""Rendering a kustomize directory, with driftless's values in a generated overlay.

driftless never re-implements kustomize: the environment's values become a
temporary overlay (``images:``, ``configMapGenerator`` literals, patches,
namespace, common annotations) whose only resource is the user's directory,
and kustomize renders that. With no values the directory is rendered as it
is, so the output equals ``kubectl kustomize DIR`` byte for byte.

The repository is untrusted: before a run, every kustomization reachable
from the directory is read and each path it names must stay inside the
project (remote bases, absolute paths and helm inflation are refused).
I/O: reads kustomization files, writes the overlay in a temporary directory,
runs the tool (``tools``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import ResourceId
from driftless.providers.k8s.tools import kustomize_argv, run_tool

__all__ = ["PROJECT_MARKER", "ConfigMapLiterals", "ImageOverride", "KustomizeValues", "Patch",
           "check_symlinks", "check_tree", "kustomization_dir", "project_root",
           "render_kustomize"]

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PROJECT_MARKER = "driftless.yaml"
_MAX_FILES = 500
_MAX_BYTES = 4 * 1024 * 1024
_PATH_LISTS = ("resources", "components", "bases", "crds", "configurations", "generators",
               "transformers", "validators", "patchesStrategicMerge")
_STRICT = ConfigDict(extra="forbid")


class ImageOverride(BaseModel):
    """One entry of kustomize's ``images:``."""

    model_config = _STRICT
    name: str = Field(description="the image name as written in the manifests")
    new_name: str | None = Field(default=None, description="replacement name")
    new_tag: str | None = Field(default=None, description="replacement tag")
    digest: str | None = Field(default=None, description="pin by digest (sha256:...)")


class ConfigMapLiterals(BaseModel):
    """A configMapGenerator entry made of literals."""

    model_config = _STRICT
    name: str
    literals: dict[str, str | int | float | bool]
    behavior: str = Field(default="create", pattern="^(create|merge|replace)$")


class Patch(BaseModel):
    """A patch: a mapping is a strategic-merge patch, a list is JSON6902 operations."""

    model_config = _STRICT
    patch: dict[str, Any] | list[dict[str, Any]]
    target: dict[str, str] | None = None


class KustomizeValues(BaseModel):
    """What driftless adds on top of the directory (all optional)."""

    model_config = _STRICT
    namespace: str | None = Field(default=None, description="kustomize namespace: for every "
                                  "object")
    name_prefix: str | None = Field(default=None, description="kustomize namePrefix")
    images: list[ImageOverride] = Field(default=[], description="kustomize images: entries "
                                        "{name, new_name, new_tag, digest}")
    config_maps: list[ConfigMapLiterals] = Field(
        default=[], description="configMapGenerator entries {name, literals, behavior}")
    patches: list[Patch] = Field(default=[], description="patches {patch, target}: a mapping "
                                 "is a strategic-merge patch, a list JSON6902 operations")
    annotations: dict[str, str] = Field(default={}, description="kustomize "
                                        "commonAnnotations")

    def empty(self) -> bool:
        """True when the directory is rendered as it is."""
        return not (self.namespace or self.name_prefix or self.images or self.config_maps
                    or self.patches or self.annotations)


def project_root(start: Path) -> Path:
    """The nearest ancestor holding ``driftless.yaml`` (the confinement root)."""
    for parent in (start, *start.parents):
        if (parent / PROJECT_MARKER).is_file():
            return parent
    return start


def kustomization_dir(rid: ResourceId, path: str) -> Path:
    """The directory of a kustomization file (or a directory holding one)."""
    given = Path(path.removeprefix("file://"))
    directory = given if given.is_dir() else given.parent
    if not any((directory / n).is_file() for n in NAMES):
        raise ProviderError(f"no kustomization.yaml in {directory}", resource=rid)
    return directory


def render_kustomize(rid: ResourceId, directory: Path, values: KustomizeValues,
                     *, root: Path | None = None) -> str:
    """The rendered YAML of ``directory`` with ``values`` applied."""
    check_tree(rid, directory, root or project_root(directory))
    if values.empty():
        return run_tool(rid, kustomize_argv(rid, directory))
    with tempfile.TemporaryDirectory(prefix="driftless-overlay-") as tmp:
        overlay = Path(tmp)
        doc = overlay_document(values, os.path.relpath(directory, overlay))
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        return run_tool(rid, kustomize_argv(rid, overlay))


def overlay_document(values: KustomizeValues, base: str) -> dict[str, Any]:
    """The generated overlay's kustomization (kustomize's own field names)."""
    doc: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
                           "kind": "Kustomization", "resources": [base]}
    if values.namespace:
        doc["namespace"] = values.namespace
    if values.name_prefix:
        doc["namePrefix"] = values.name_prefix
    if values.annotations:
        doc["commonAnnotations"] = dict(sorted(values.annotations.items()))
    if values.images:
        doc["images"] = [_image(i) for i in values.images]
    if values.config_maps:
        doc["configMapGenerator"] = [
            {"name": c.name, "behavior": c.behavior,
             "literals": [f"{k}={_literal(v)}" for k, v in sorted(c.literals.items())]}
            for c in values.config_maps]
    if values.patches:
        doc["patches"] = [_patch(p) for p in values.patches]
    return doc


def _image(image: ImageOverride) -> dict[str, str]:
    out = {"name": image.name}
    if image.new_name:
        out["newName"] = image.new_name
    if image.new_tag:
        out["newTag"] = image.new_tag
    if image.digest:
        out["digest"] = image.digest
    return out


def _literal(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _patch(patch: Patch) -> dict[str, Any]:
    text = (json.dumps(patch.patch) if isinstance(patch.patch, list)
            else yaml.safe_dump(patch.patch, sort_keys=False))
    out: dict[str, Any] = {"patch": text}
    if patch.target:
        out["target"] = dict(patch.target)
    return out


# -- confinement -------------------------------------------------------------------------

def check_tree(rid: ResourceId, directory: Path, root: Path) -> None:
    """Every kustomization reachable from ``directory`` names only paths inside ``root``."""
    real_root = root.resolve()
    todo, seen = [directory.resolve()], set[Path]()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if len(seen) > _MAX_FILES:
            raise ProviderError(f"more than {_MAX_FILES} kustomizations reachable from "
                                f"{directory} (the limit)", resource=rid)
        for ref in _references(rid, current, real_root):
            target = _confined(rid, current, ref, real_root)
            if target.is_dir():
                todo.append(target)


def _references(rid: ResourceId, directory: Path, root: Path) -> Iterator[str]:
    doc = _load(rid, directory, root)
    for key in ("helmCharts", "helmGlobals", "helmChartInflationGenerator"):
        if key in doc:
            raise ProviderError(f"{directory}: '{key}' is not supported (kustomize would run "
                                "helm); use k8s:helm_release", resource=rid)
    for key in _PATH_LISTS:
        yield from (v for v in _strings(doc.get(key)) if "\n" not in v)
    for entry in _dicts(doc.get("patches")) + _dicts(doc.get("patchesJson6902")) + \
            _dicts(doc.get("replacements")):
        if isinstance(entry.get("path"), str):
            yield entry["path"]
    for entry in _dicts(doc.get("configMapGenerator")) + _dicts(doc.get("secretGenerator")):
        for value in _strings(entry.get("files")):
            yield value.split("=", 1)[-1]
        yield from _strings(entry.get("envs"))
        if isinstance(entry.get("env"), str):
            yield entry["env"]
    openapi = doc.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        yield openapi["path"]


def _load(rid: ResourceId, directory: Path, root: Path) -> Mapping[str, Any]:
    for name in NAMES:
        path = directory / name
        if path.is_file():
            _confined(rid, directory, name, root)  # a kustomization that is a symlink out
            if path.stat().st_size > _MAX_BYTES:
                raise ProviderError(f"{path} is larger than {_MAX_BYTES} bytes", resource=rid)
            try:
                doc = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
            except yaml.YAMLError as exc:
                raise ProviderError(f"{path}: not valid YAML: {exc}", resource=rid) from None
            return doc if isinstance(doc, Mapping) else {}
    return {}


def _confined(rid: ResourceId, directory: Path, ref: str, root: Path) -> Path:
    if "://" in ref or ref.startswith(("github.com/", "git@", "gitlab.com/")) or \
            os.path.isabs(ref):
        raise ProviderError(f"{directory}: '{ref}' is not a path inside the project (remote "
                            "and absolute references are not rendered)", resource=rid)
    target = (directory / ref).resolve()
    if target != root and root not in target.parents:
        raise ProviderError(f"{directory}: '{ref}' points outside the project {root}",
                            resource=rid)
    return target


def check_symlinks(rid: ResourceId, directory: Path, root: Path) -> None:
    """No symlink under ``directory`` leads outside ``root`` (a chart's ``.Files.Get``
    or a kustomize resource would otherwise read it into the render)."""
    real_root = root.resolve()
    for count, path in enumerate(directory.rglob("*")):
        if count > 10 * _MAX_FILES:
            raise ProviderError(f"more than {10 * _MAX_FILES} files under {directory} "
                                "(the limit)", resource=rid)
        if path.is_symlink():
            target = path.resolve()
            if target != real_root and real_root not in target.parents:
                raise ProviderError(f"{path} links outside the project", resource=rid)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [v for v in value if isinstance(v, str)]
    return []


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [v for v in value if isinstance(v, Mapping)]
    return []
