"""A plan too long for one GitHub comment splits into parts under the limit,
each findable by its marker, with code fences closed and reopened."""

from __future__ import annotations

import re
from pathlib import Path

from cli_helpers import run
from driftless.checks import run_checks
from driftless.ci.markdown import GITHUB_COMMENT_LIMIT, plans_markdown, split_comments
from driftless.model import Action, Change, FieldDiff, Plan, Resource, ResourceId


def _big_plan(target_bytes: int) -> Plan:
    changes = []
    n = 0
    size = 0
    while size < target_bytes:
        rid = ResourceId("local", "file", f"conf{n:05d}")
        diff = FieldDiff("content", f"old line {n} " + "x" * 40, f"new line {n} " + "y" * 40)
        changes.append(Change(rid, Action.UPDATE, desired=Resource(rid, {"path": f"/srv/{n}"}),
                              diffs=(diff,), reason=f"content changed in commit {n:07x}"))
        size += 200
        n += 1
    return Plan("app", "3f2a9c1e", "sha256:0", "lin", 41, tuple(changes))


def test_a_200_kb_plan_splits_under_the_limit() -> None:
    plan = _big_plan(200_000)
    text = plans_markdown([plan], checks=run_checks([plan]))
    assert len(text) > 200_000
    parts = split_comments(text, key="pr")
    assert len(parts) >= 4
    assert all(len(p) < GITHUB_COMMENT_LIMIT for p in parts)
    for n, part in enumerate(parts, start=1):
        assert part.startswith(f"<!-- driftless-plan:pr part {n}/{len(parts)} -->\n")
        fences = [line for line in part.splitlines() if line.startswith("```")]
        assert len(fences) % 2 == 0, f"part {n} leaves a code fence open"
    body = "".join(parts)
    for i in (0, 500, 999):
        assert f"~ local:file/conf{i:05d}  update in place  why: content changed" in body
    assert parts[-1].endswith("### Policy checks\n\nNo findings.\n")


def test_a_small_plan_is_one_comment() -> None:
    plan = _big_plan(1_000)
    parts = split_comments(plans_markdown([plan]))
    assert len(parts) == 1 and "continued" not in parts[0]


def test_one_huge_line_is_cut() -> None:
    parts = split_comments("a" * 150_000 + "\n", limit=10_000)
    assert all(len(p) <= 10_000 for p in parts)
    assert "".join(re.sub(r"<!--.*-->\n|\n|\*\(continued.*\)\*", "", p) for p in parts) == \
        "a" * 150_000


def test_comment_parts_command(tmp_path: Path) -> None:
    plan = _big_plan(200_000)
    (tmp_path / "plan.md").write_text(plans_markdown([plan]))
    out = run(tmp_path, "ci", "comment-parts", str(tmp_path / "plan.md"), "--out",
              str(tmp_path / "parts"), check=True)
    files = sorted((tmp_path / "parts").glob("part-*.md"))
    assert f"{len(files)} comment(s)" in out.stdout and len(files) >= 4
    assert all(len(f.read_text()) < GITHUB_COMMENT_LIMIT for f in files)


def test_an_empty_plan_file_still_gives_a_comment(tmp_path: Path) -> None:
    (tmp_path / "plan.md").write_text("")
    run(tmp_path, "ci", "comment-parts", str(tmp_path / "plan.md"), "--out",
        str(tmp_path / "parts"), check=True)
    [part] = sorted((tmp_path / "parts").glob("part-*.md"))
    assert "No plan was made: see the job's log" in part.read_text()
