"""How a stack is rendered (``RenderOptions``) and how render looks kinds up.

Apart from ``job`` so that a render served from the cache, and the CLI that
builds the options, do not import the evaluator.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING

from driftless.errors import Problem
from driftless.records import record
from driftless.render.sops_values import SopsCache

if TYPE_CHECKING:
    from driftless.providers.base import KindSpec

__all__ = ["ENV_PREFIX", "KindLookup", "RenderOptions"]

ENV_PREFIX = "DRIFTLESS_VAR_"
"""Environment variables that give variable values: ``DRIFTLESS_VAR_<name>``."""

KindLookup = Callable[[str, str], "KindSpec | None"]


@record
class RenderOptions:
    """How to render: environment, variable values, the revision being rendered.

    ``environ`` replaces ``os.environ`` as the source of DRIFTLESS_VAR_* values.
    ``on_missing_secret`` makes secrets optional (CI has none): a sensitive
    variable without a value renders as a typed placeholder and is reported
    to it as a warning instead of being an error. Renders that apply leave
    it None, so a missing secret can never be applied as a placeholder.
    ``environ`` is also where the age keys for SOPS files come from; ``sops``
    keeps each SOPS file decrypted once for every stack rendered with these
    options (in memory only; ``dataclasses.replace`` shares it).
    """

    env: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    var_files: tuple[Path, ...] = ()
    revision: str | None = None
    environ: Mapping[str, str] | None = None
    on_missing_secret: Callable[[Problem], None] | None = field(default=None, compare=False)
    sops: SopsCache = field(default_factory=SopsCache, compare=False, repr=False)

    def environment(self) -> Mapping[str, str]:
        """Where DRIFTLESS_VAR_* values and SOPS age keys are read from."""
        return self.environ if self.environ is not None else os.environ
