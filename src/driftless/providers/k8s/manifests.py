"""Rendered YAML as objects: split, name, and lay out one file per object.

The text of each object is kept exactly as the tool wrote it (the split is
on the ``---`` lines between documents, which kustomize and helm put at the
start of a line and a block scalar never can), so a committed file is a
slice of the render, not a re-serialisation. No I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import yaml

from driftless.errors import ProviderError
from driftless.model import ResourceId
from driftless.records import record

__all__ = ["K8sObject", "digest_text", "split_objects"]

_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.M)
_UNSAFE = re.compile(r"[^a-z0-9._-]+")


@record
class K8sObject:
    """One rendered object: its identity and its exact text."""

    api_version: str
    kind: str
    name: str
    namespace: str
    text: str
    body: Mapping[str, Any]

    @property
    def key(self) -> str:
        """``Kind/namespace/name`` (namespace empty for cluster-scoped objects)."""
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def filename(self) -> str:
        """A deterministic file name: ``kind-name.yaml``, ``kind-namespace-name.yaml``
        for namespaced objects, lowercased, anything unsafe as ``_``."""
        parts = [self.kind, self.namespace, self.name] if self.namespace else [self.kind,
                                                                                self.name]
        return "-".join(_UNSAFE.sub("_", p.lower()) for p in parts) + ".yaml"

    @property
    def is_secret(self) -> bool:
        """A core ``Secret``: never committed in clear."""
        return self.kind == "Secret" and self.api_version == "v1"


def digest_text(text: str) -> str:
    """sha256 of the text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_objects(rid: ResourceId, rendered: str) -> list[K8sObject]:
    """The objects of a multi-document render, in the tool's order."""
    out: list[K8sObject] = []
    for chunk in _SEPARATOR.split(rendered):
        if not chunk.strip():
            continue
        text = chunk.lstrip("\n")
        text = text if text.endswith("\n") else text + "\n"
        try:
            body = yaml.load(text, Loader=yaml.CSafeLoader)
        except yaml.YAMLError as exc:
            raise ProviderError(f"the render holds invalid YAML: {exc}", resource=rid) from None
        if body is None:
            continue
        out.append(_object(rid, body, text))
    return out


def _object(rid: ResourceId, body: Any, text: str) -> K8sObject:
    meta = body.get("metadata") if isinstance(body, Mapping) else None
    if not isinstance(meta, Mapping) or not body.get("kind") or not meta.get("name"):
        raise ProviderError("the render holds a document without kind and metadata.name",
                            resource=rid)
    return K8sObject(str(body.get("apiVersion", "")), str(body["kind"]), str(meta["name"]),
                     str(meta.get("namespace") or ""), text, body)
