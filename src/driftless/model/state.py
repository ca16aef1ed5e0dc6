"""State snapshots: what driftless manages, as last recorded.

A snapshot has a ``lineage`` (a random id fixed when the stack's state is
born, so two unrelated states are never mixed) and a ``serial`` that grows
by one with every write; backends refuse a write whose serial is stale.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field, replace
from typing import Any

from driftless.model.ids import ResourceId
from driftless.model.resource import LiveResource
from driftless.records import record

__all__ = ["ResourceState", "StateSnapshot"]


@record(slots=True)
class ResourceState:
    """One managed resource in state.

    ``inputs`` are the properties last applied (secrets as digests) so the
    planner can tell a config change from drift; ``protect`` is kept here so
    it holds after the resource leaves the config.
    """

    id: ResourceId
    attributes: Mapping[str, Any] = field(default_factory=dict)
    private: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    depends_on: tuple[ResourceId, ...] = ()

    def live(self) -> LiveResource:
        """The recorded view as a ``LiveResource`` (the provider's prior)."""
        return LiveResource(self.id, self.attributes, self.private)

    def to_json(self) -> dict[str, Any]:
        """JSON form stored by backends."""
        return {
            "address": str(self.id),
            "attributes": dict(self.attributes),
            "private": dict(self.private),
            "inputs": dict(self.inputs),
            "protect": self.protect,
            "depends_on": [str(d) for d in self.depends_on],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ResourceState:
        """Inverse of ``to_json``."""
        return cls(
            ResourceId.trusted(doc["address"]),
            doc.get("attributes", {}),
            doc.get("private", {}),
            doc.get("inputs", {}),
            bool(doc.get("protect", False)),
            tuple(ResourceId.parse(d) for d in doc.get("depends_on", ())),
        )


@record
class StateSnapshot:
    """A stack's whole state at one serial."""

    lineage: str
    serial: int
    resources: Mapping[ResourceId, ResourceState] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> StateSnapshot:
        """A new state: fresh lineage, serial 0, nothing managed."""
        return cls(os.urandom(16).hex(), 0)  # a random lineage, as uuid4().hex

    def get(self, rid: ResourceId) -> ResourceState | None:
        """The recorded resource, if managed."""
        return self.resources.get(rid)

    def next(
        self,
        resources: Mapping[ResourceId, ResourceState] | None = None,
        outputs: Mapping[str, Any] | None = None,
    ) -> StateSnapshot:
        """The following serial with new contents."""
        return replace(
            self,
            serial=self.serial + 1,
            resources=self.resources if resources is None else resources,
            outputs=self.outputs if outputs is None else outputs,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form (used by migrate and ``state pull``)."""
        return {
            "lineage": self.lineage,
            "serial": self.serial,
            "outputs": dict(self.outputs),
            "resources": [r.to_json() for _, r in sorted(self.resources.items())],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StateSnapshot:
        """Inverse of ``to_json``."""
        res = (ResourceState.from_json(r) for r in doc.get("resources", ()))
        return cls(
            str(doc["lineage"]), int(doc["serial"]),
            {r.id: r for r in res}, dict(doc.get("outputs", {})),
        )
