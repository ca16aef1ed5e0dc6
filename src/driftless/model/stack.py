"""A rendered stack: the renderer's hand-over to the planner."""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from driftless.model.resource import Resource
from driftless.records import record

__all__ = ["DIGEST_SIZE", "NOT_PLAIN", "DesiredStack", "resource_digest", "resource_digests"]


@record
class DesiredStack:
    """Everything the planner needs about one stack at one revision.

    ``digest`` is a sha256 over the canonical render (secrets included only
    as digests), byte-identical for identical inputs. A render leaves it to be
    worked out on first use (``digest_of`` is then a function): the render
    cache has a forked child work it out meanwhile, on the other core, while
    the command takes its lock and reads state. ``outputs`` values may
    be ``Deferred``. ``settings`` are per-stack agent options (prune,
    self_heal, ...), passed through untouched. ``validated`` says the render
    checked every resource's properties against its kind's schema (render was
    given the kinds), so the planner does not check them again.
    """

    name: str
    resources: tuple[Resource, ...]
    digest_of: str | Callable[[], str] = field(compare=False, repr=False)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    revision: str | None = None
    depends_on: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    validated: bool = field(default=False, compare=False)
    # (the resources they are of, their ``resource_digest``s joined, or a function
    # giving those): handed back by the render cache's child, like ``digest_of``
    digests_of: tuple[tuple[Resource, ...], bytes | Callable[[], bytes | None]] | None = field(
        default=None, compare=False, repr=False)

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the canonical render (worked out now if it was left to later)."""
        found = self.digest_of
        if isinstance(found, str):
            return found
        text = found()
        object.__setattr__(self, "digest_of", text)  # a value, kept once known
        return text

    def resource_digests(self) -> bytes:
        """Each resource's ``resource_digest``, joined in the order of ``resources``:
        as the render cache's child handed them back, else worked out now."""
        kept = self.digests_of
        if kept is not None and kept[0] is self.resources:
            found = kept[1] if isinstance(kept[1], bytes) else kept[1]()
            if isinstance(found, bytes) and len(found) == DIGEST_SIZE * len(self.resources):
                if not isinstance(kept[1], bytes):
                    object.__setattr__(self, "digests_of", (self.resources, found))
                return found
        found = resource_digests(self.resources)
        object.__setattr__(self, "digests_of", (self.resources, found))
        return found


DIGEST_SIZE = 32
NOT_PLAIN = bytes(DIGEST_SIZE)
"""The ``resource_digest`` of a resource holding a value that is not plain data (a
secret, a value waiting on another resource): it has no digest."""


def resource_digest(res: Resource) -> bytes:
    """sha256 of everything a resource's own plan depends on besides its state: its
    address, properties, dependencies and protection (``plan.memo`` keys it with
    its state row); ``NOT_PLAIN`` when a value is not plain data."""
    wanted: Any = (tuple(res.id), res.properties,
                   [tuple(d) for d in res.depends_on] if res.depends_on else None,
                   res.protect)
    try:
        return hashlib.sha256(marshal.dumps(wanted)).digest()
    except ValueError:
        return NOT_PLAIN


def resource_digests(resources: tuple[Resource, ...]) -> bytes:
    """``resource_digest`` of each of ``resources``, joined."""
    return b"".join([resource_digest(res) for res in resources])
