"""Path properties of the local provider's kinds, checked where they are declared.

``AbsPath`` is the type of every property that names a file or directory on
the target host: it must be absolute (a relative path would depend on the
directory driftless happens to run in) and free of NUL bytes (which the OS
truncates at, so the path acted on would not be the one planned). Because
the schema checks it, ``driftless validate`` reports it at the property's
file:line. Messages may echo the value; ``providers.base.schema_problems``
swaps in the ``redacted`` form when the value is sensitive.

``source`` properties are different: the repository names a file *it*
holds, relative to the stack, and render resolves it inside the project
(``KindSpec.read_fields``); ``resolved_source`` (in ``_source``, re-exported
here) refuses one that was not. No I/O here.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from driftless.providers.local._source import resolved_source

__all__ = [
    "AbsPath", "LinkTarget", "SystemdEnvFile", "check_abs_path", "check_no_nul",
    "resolved_source",
]

_SHOWN = 80  # characters of a bad path echoed back; longer ones are cut


def check_no_nul(value: str) -> str:
    """The path itself, when free of NUL bytes; else a schema error."""
    if "\0" in value:
        raise PydanticCustomError("path_nul", "must not contain a NUL byte",
                                  {"redacted": "must not contain a NUL byte"})
    return value


def check_abs_path(value: str) -> str:
    """The path itself, when absolute and NUL-free; else a schema error."""
    check_no_nul(value)
    if not os.path.isabs(value):
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
        raise PydanticCustomError("path_not_absolute", "must be an absolute path (got {got})",
                                  {"got": repr(shown), "redacted": "must be an absolute path"})
    return value


AbsPath = Annotated[str, AfterValidator(check_abs_path)]
"""A filesystem path on the target host: absolute, without NUL bytes."""

LinkTarget = Annotated[str, AfterValidator(check_no_nul)]
"""A symlink's target: without NUL bytes, and may be relative, because the
kernel resolves a relative target from the link's directory, never from the
directory driftless runs in (``current -> releases/2`` is the usual idiom)."""


def check_systemd_env_file(value: str) -> str:
    """An absolute path, optionally prefixed with ``-`` (systemd: ignore when missing)."""
    check_abs_path(value.removeprefix("-"))
    return value


SystemdEnvFile = Annotated[str, AfterValidator(check_systemd_env_file)]
"""systemd's ``EnvironmentFile=``: an absolute path, ``-`` in front to make it optional."""
