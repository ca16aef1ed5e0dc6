"""Report for the hostile-repository acceptance tests.

With ``HOSTILE_REPORT=/tmp/hostile-report.txt``, each test of
test_hostile_repos.py leaves a JSON file in ``/tmp/hostile-report.txt.d/`` and
the controlling pytest process (also under xdist) writes, at the end, a table
of every failing case: which command broke which assertion, and the first
line of the output. The folder is emptied when the session starts.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest


def _folder() -> Path | None:
    report = os.environ.get("HOSTILE_REPORT")
    return Path(report + ".d") if report else None


def pytest_sessionstart(session: pytest.Session) -> None:
    folder = _folder()
    if folder is not None and not hasattr(session.config, "workerinput"):
        shutil.rmtree(folder, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    folder = _folder()
    if folder is None or hasattr(session.config, "workerinput") or not folder.is_dir():
        return
    entries = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    Path(os.environ["HOSTILE_REPORT"]).write_text(render(entries))


def render(entries: list[dict]) -> str:  # type: ignore[type-arg]
    """The report: a summary per assertion, then one block per failing case."""
    failing = sorted((e for e in entries if e["failures"]), key=lambda e: e["id"])
    by_assertion: dict[str, list[str]] = defaultdict(list)
    for e in failing:
        for _cmd, what, _detail in e["failures"]:
            if e["id"] not in by_assertion[what]:
                by_assertion[what].append(e["id"])
    lines = [f"hostile repositories: {len(entries)} run, {len(failing)} failing", "",
             "assertion                      cases", "-" * 78]
    for what, ids in sorted(by_assertion.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"{what:<30} {len(ids):>4}  {', '.join(ids[:6])}"
                     + (" ..." if len(ids) > 6 else ""))
    lines += ["", f"{'case':<44} {'command':<22} {'assertion':<22} first line / detail",
              "-" * 130]
    for e in failing:
        for cmd, what, detail in e["failures"]:
            first = next((c["first_line"] for c in e["commands"] if c["command"] == cmd), "")
            text = detail
            if what in ("time", "memory", "not run") and first:
                text = f"{detail} | {first}"
            lines.append(f"{e['id']:<44} {cmd:<22} {what:<22} {text[:220]}")
    return "\n".join(lines) + "\n"
