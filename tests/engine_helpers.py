"""Build desired stacks of real local resources for engine tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from driftless.engine import Engine
from driftless.model import DesiredStack, Resource, ResourceId
from driftless.providers import ProviderSet
from driftless.state.sqlite import SQLiteBackend, from_url


def file_res(path: Path, content: str, *, name: str | None = None, protect: bool = False,
             depends_on: Iterable[ResourceId] = ()) -> Resource:
    """A local:file resource."""
    rid = ResourceId("local", "file", name or path.name.replace(".", "_"))
    return Resource(rid, {"path": str(path), "content": content}, tuple(depends_on), protect)


def stack(name: str, resources: Iterable[Resource], **extra: Any) -> DesiredStack:
    """A desired stack whose digest follows its content."""
    res = tuple(resources)
    blob = json.dumps([[str(r.id), repr(sorted(r.properties.items())), r.protect] for r in res])
    return DesiredStack(name, res, hashlib.sha256(blob.encode()).hexdigest(), **extra)


def backend(tmp: Path) -> SQLiteBackend:
    """A SQLite state backend in ``tmp``."""
    return from_url("sqlite:///state.db", tmp)


def engine(tmp: Path, *, workers: int = 4) -> Engine:
    """An engine over the real local provider and SQLite state."""
    return Engine(providers=ProviderSet(), backend=backend(tmp), workers=workers)
