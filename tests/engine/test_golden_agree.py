"""Plan and apply agree on every golden case that can run on this machine.

Each golden case (tests/cases) that uses only local file-like kinds and
commands is rendered as its golden test renders it, moved under a temporary
root (paths re-rooted, commands made harmless), then applied through the real
engine: the first plan, a plan after drift by hand, and the no-op plan must
each name exactly the changes apply makes. Cases with services, AWS or test
kinds are left to their end-to-end tests (the quickstart service test and
tests/aws/test_plan_apply_agree.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from driftless.engine import Engine
from driftless.model import Action, DesiredStack, Outcome, Resource, contains_unknown
from driftless.providers import ProviderSet
from driftless.render import load_project, render_stack, stack_order
from engine_helpers import engine
from render.test_golden_cases import _case_dirs, _options, _settings, kinds

RUNNABLE = {"file", "directory", "env_file", "template", "symlink", "command"}


def _runnable(case: Path) -> bool:
    if case.name.startswith("error-"):
        return False
    text = (case / "expected.json").read_text()
    kinds_used = {a.split('"')[3] for a in text.split("\n") if '"address": "' in a}
    return all(k.startswith("local:") and k.split(":")[1].split("/")[0] in RUNNABLE
               for k in kinds_used)


def _rerooted(res: Resource, root: Path) -> Resource:
    """``res`` under ``root``; a command made harmless (``true``). Properties
    the kind does not take (golden cases test render with made-up ones) are
    written into a file's content instead."""
    spec = ProviderSet().spec("local", res.id.kind)
    assert spec is not None
    known = set(spec.model().model_fields)
    props: dict[str, Any] = {k: v for k, v in res.properties.items() if k in known}
    extra = {k: v for k, v in res.properties.items()
             if k not in known and not contains_unknown(v)}
    if extra and res.id.kind == "file":
        props["content"] = f"{props.get('content', '')}\n{json.dumps(extra, sort_keys=True)}"
    if res.id.kind == "command":
        props["command"] = "true"
        return replace(res, properties=props)
    path = props.get("path")
    assert isinstance(path, str) and path.startswith("/"), f"{res.id}: path {path!r}"
    props["path"] = str(root / path.lstrip("/"))
    Path(props["path"]).parent.mkdir(parents=True, exist_ok=True)
    return replace(res, properties=props)


def _agree(eng: Engine, desired: DesiredStack) -> int:
    plan = eng.plan(desired)
    report = eng.apply(plan, desired)
    planned = sorted((str(c.id), c.action.value) for c in plan.pending())
    made = sorted((str(r.id), r.action.value) for r in report.results
                  if r.action is not Action.NOOP)
    assert planned == made, f"plan said {planned}, apply did {made}"
    assert all(r.outcome is Outcome.APPLIED for r in report.results), report.results
    return len(planned)


CASES = [c for c in _case_dirs() if _runnable(c)]


@pytest.mark.parametrize("case", CASES, ids=lambda d: d.name)
def test_plan_and_apply_agree_on_golden_case(case: Path, tmp_path: Path) -> None:
    settings = _settings(case)
    project = load_project(case / "input")
    root = tmp_path / "root"
    eng = engine(tmp_path)
    for name in stack_order(project):
        rendered = render_stack(project, name, _options(case, settings),
                                stack_outputs=settings.get("stack_outputs", {}), kinds=kinds)
        desired = replace(rendered, resources=tuple(
            _rerooted(r, root) for r in rendered.resources))
        assert _agree(eng, desired) == len(desired.resources)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        for victim in files[::2]:
            victim.write_text("edited by hand\n")
        assert _agree(eng, desired) >= (1 if files else 0)
        assert _agree(eng, desired) == 0


def test_most_golden_cases_run_here() -> None:
    assert len(CASES) >= 10, [c.name for c in CASES]
