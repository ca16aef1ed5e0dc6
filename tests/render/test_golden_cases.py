"""Golden cases: tests/cases/<name>/input is a project; expected.json is its render,
expected.txt the problems ``validate`` reports. ``case.yaml`` (optional) sets env,
vars, var_files, environ and stack_outputs. Regenerate with DRIFTLESS_UPDATE_GOLDEN=1
and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict

from driftless.errors import RenderError
from driftless.providers import KindSpec
from driftless.render import (
    RenderOptions,
    load_project,
    render_stack,
    stack_json,
    stack_order,
    validate_project,
)

CASES = Path(__file__).resolve().parent.parent / "cases"
UPDATE = bool(os.environ.get("DRIFTLESS_UPDATE_GOLDEN"))


class Thing(BaseModel):
    """A test kind: golden cases check schema validation against it."""

    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 1
    tags: dict[str, str] = {}


THING = KindSpec("thing", Thing, "a test kind with a name, a size and tags")


def kinds(provider: str, kind: str) -> KindSpec | None:
    return THING if (provider, kind) == ("test", "thing") else None


def _case_dirs() -> list[Path]:
    return sorted(d for d in CASES.iterdir() if (d / "input").is_dir())


def _settings(case: Path) -> dict[str, Any]:
    path = case / "case.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def _options(case: Path, settings: Mapping[str, Any]) -> RenderOptions:
    files = tuple(case / "input" / f for f in settings.get("var_files", []))
    return RenderOptions(
        env=settings.get("env"),
        variables={k: str(v) for k, v in settings.get("vars", {}).items()},
        var_files=files,
        environ=settings.get("environ", {}),
    )


def _render(case: Path, settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    project = load_project(case / "input")
    options = _options(case, settings)
    outputs = settings.get("stack_outputs", {})
    return [stack_json(render_stack(project, name, options, stack_outputs=outputs, kinds=kinds))
            for name in stack_order(project)]


def _problems(case: Path, settings: Mapping[str, Any]) -> str:
    try:
        project = load_project(case / "input")
        problems = validate_project(project, _options(case, settings), kinds=kinds)
    except RenderError as exc:
        problems = list(exc.problems)
    lines = [str(p) + (f"  [{p.hint}]" if p.hint else "") for p in problems]
    return "\n".join(lines) + "\n"


def _check(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual)
    assert actual == path.read_text(), f"{path} differs (DRIFTLESS_UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize("case", _case_dirs(), ids=lambda d: d.name)
def test_golden_case(case: Path) -> None:
    settings = _settings(case)
    if case.name.startswith("error-"):
        text = _problems(case, settings)
        assert text.strip(), "an error case must report at least one problem"
        _check(case / "expected.txt", text)
    else:
        assert _problems(case, settings).strip() == "", "a render case must validate cleanly"
        docs = _render(case, settings)
        _check(case / "expected.json", json.dumps(docs, indent=2, sort_keys=True) + "\n")
