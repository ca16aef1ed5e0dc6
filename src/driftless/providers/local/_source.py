"""``resolved_source``: the check on a ``source`` property, without pydantic.

It lives apart from the schema types in ``_paths`` because handlers call it
while acting, and a handler's module must not import pydantic just for it
(a no-op plan never validates, so it never needs pydantic).
"""

from __future__ import annotations

import os
from typing import Any

from driftless.errors import ProviderError
from driftless.model import ResourceId

__all__ = ["resolved_source"]


def resolved_source(value: Any, *, rid: ResourceId, what: str = "source") -> str:
    """``value`` as a file to read, refused unless render resolved it (absolute).

    A relative ``source`` here means render did not resolve and confine it to
    the project, so reading it would follow the working directory instead.
    """
    if not isinstance(value, str) or not os.path.isabs(value) or "\0" in value:
        raise ProviderError(
            f"{what} must be resolved by render (got a relative path)", resource=rid,
            hint="render resolves source relative to the stack directory; this resource "
                 "did not come through render")
    return value
