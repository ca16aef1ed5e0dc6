"""local provider kind ``marker_wait``: wait until a file exists.

I/O: ``lstat`` of one path, polled. The marker belongs to whoever writes it
(a first-boot setup script, another host's agent); this kind only observes
it: create waits for it, delete forgets it and never removes the file.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import Action, Change, LiveResource, Resource
from driftless.providers.base import KindHandler, KindSpec
from driftless.providers.local._paths import AbsPath
from driftless.providers.local.files import PathHandler, quick_diff

__all__ = ["HANDLERS"]


class MarkerWaitProps(BaseModel):
    """Properties of ``local:marker_wait``."""

    model_config = ConfigDict(extra="forbid")
    path: AbsPath = Field(description="the marker file to wait for (absolute)")
    timeout: float = Field(300.0, gt=0, description="seconds to wait before failing")
    interval: float = Field(1.0, gt=0, description="seconds between checks")


class MarkerWaitHandler(PathHandler):
    """``local:marker_wait``."""

    spec = KindSpec(
        name="marker_wait", schema=MarkerWaitProps,
        description="Waits (up to timeout) until a file exists, e.g. a first-boot setup "
                    "marker; never creates or removes it.",
        replace_on=frozenset({"path"}), import_id="the marker's absolute path",
        attributes={"path": "the marker path", "present": "whether the marker exists"},
        owns_object=False,
    )

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """Present → the marker; absent → None (so a plan shows the wait)."""
        path = resource.properties["path"]
        if not isinstance(path, str) or not self.host.lexists(path):
            return None
        return LiveResource(resource.id, {"path": path, "present": True})

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Waiting is needed only while the marker is absent (or the path moved)."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None,
                          reason="waits for the marker file")
        wanted = {"path": desired.properties["path"], "present": True}
        return quick_diff(desired, live, wanted, replace_on=self.spec.replace_on)

    def create(self, change: Change) -> LiveResource:
        """Poll until the marker exists; ProviderError (retryable) on timeout."""
        assert change.desired is not None
        props: MarkerWaitProps = self.parse(change.desired)
        start = time.monotonic()
        while not self.host.lexists(props.path):
            waited = time.monotonic() - start
            if waited >= props.timeout:
                raise ProviderError(
                    f"marker {props.path} did not appear within {waited:.1f}s",
                    resource=change.desired.id, retryable=True,
                    hint="check what should create it, or raise timeout")
            time.sleep(min(props.interval, max(0.0, props.timeout - waited)))
        return LiveResource(change.desired.id, {"path": props.path, "present": True})

    def update(self, change: Change) -> LiveResource:
        """Wait again (for the new path)."""
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Nothing to do: the marker is not driftless's to remove."""


HANDLERS: dict[str, KindHandler] = {"marker_wait": MarkerWaitHandler()}
