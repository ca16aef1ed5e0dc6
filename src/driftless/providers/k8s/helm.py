"""Rendering a Helm chart with ``helm template`` (never a re-implementation).

The chart is a directory of the project (its ``Chart.yaml`` is the kind's
read field, so render confined it); values are written to a temporary
file. Without helm on PATH the render is an error naming what to install.
I/O: writes a values file in a temporary directory, runs ``helm``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from driftless.errors import ProviderError
from driftless.model import ResourceId
from driftless.providers.k8s.kustomize import check_symlinks, project_root
from driftless.providers.k8s.tools import helm_template_argv, run_tool

__all__ = ["HelmValues", "chart_dir", "render_helm"]


class HelmValues(BaseModel):
    """How a chart is rendered."""

    model_config = ConfigDict(extra="forbid")
    release: str = Field(description="release name passed to helm template")
    namespace: str | None = Field(default=None, description="release namespace")
    values: dict[str, Any] = Field(default={}, description="chart values")
    include_crds: bool = Field(default=False, description="render the chart's CRDs too")


def chart_dir(rid: ResourceId, path: str) -> Path:
    """The chart directory from its ``Chart.yaml`` (or the directory itself)."""
    given = Path(path.removeprefix("file://"))
    directory = given if given.is_dir() else given.parent
    if not (directory / "Chart.yaml").is_file():
        raise ProviderError(f"no Chart.yaml in {directory}", resource=rid)
    return directory


def render_helm(rid: ResourceId, directory: Path, values: HelmValues) -> str:
    """``helm template RELEASE DIR -f values.yaml [--namespace NS] [--include-crds]``."""
    argv = helm_template_argv(rid)  # first: a missing helm is the error to see
    check_symlinks(rid, directory, project_root(directory))
    with tempfile.TemporaryDirectory(prefix="driftless-helm-") as tmp:
        values_file = Path(tmp) / "values.yaml"
        values_file.write_text(yaml.safe_dump(values.values, sort_keys=True))
        argv += [values.release, str(directory), "--values", str(values_file)]
        if values.namespace:
            argv += ["--namespace", values.namespace]
        if values.include_crds:
            argv.append("--include-crds")
        return run_tool(rid, argv)
