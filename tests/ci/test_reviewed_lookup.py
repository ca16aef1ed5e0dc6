"""Finding a reviewed plan for a merged revision, and saying why one is stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftless.ci.reviewed import find_plan, save_plans, stale_reason
from driftless.model import Action, Change, Plan, ResourceId
from gitserver import git


def _doc(digest: str, serial: int = 3) -> dict[str, Any]:
    plan = {"stack": "web", "digest": digest, "lineage": "L", "serial": serial,
            "changes": [{"address": "local:file/page", "action": "update", "refused": False}]}
    return {"plans": [plan], "env": None}


def _commit(repo: Path, name: str) -> str:
    (repo / f"{name}.txt").write_text(name)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", name, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def test_lookup_by_revision_merge_parent_or_digest(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    base = _commit(repo, "base")
    git("checkout", "-q", "-b", "pr", cwd=repo)
    head = _commit(repo, "pr")
    save_plans(repo, _doc("sha256:pr"), head=head, remote=None)
    gitdir = repo / ".git"

    assert find_plan(gitdir, head, "web", "x").found_by == "commit"  # fast-forward
    assert find_plan(gitdir, head, "db", "x") is None  # another stack
    on_top = _commit(repo, "direct")
    assert find_plan(gitdir, on_top, "web", "x") is None, "a parent is not a review"

    git("checkout", "-q", "main", cwd=repo)
    git("merge", "-q", "--no-ff", "-m", "merge", head, cwd=repo)
    merged = git("rev-parse", "HEAD", cwd=repo).strip()
    found = find_plan(gitdir, merged, "web", "x")
    assert found is not None and found.head == head and found.found_by == "commit"

    git("checkout", "-q", base, cwd=repo)
    squash = _commit(repo, "squash")
    by_digest = find_plan(gitdir, squash, "web", "sha256:pr")
    assert by_digest is not None and by_digest.found_by == "digest"
    assert find_plan(gitdir, squash, "web", "sha256:other") is None


def test_stale_reasons() -> None:
    rid = ResourceId("local", "file", "page")
    same = Plan("web", None, "sha256:pr", "L", 3, (Change(rid, Action.UPDATE),))
    reviewed = _doc("sha256:pr")["plans"][0]
    assert stale_reason(reviewed, same, "sha256:pr") is None
    moved = Plan("web", None, "sha256:pr", "L", 4, (Change(rid, Action.REPLACE),))
    reason = stale_reason(reviewed, moved, "sha256:new")
    assert reason == ("serial 3 → 4; the merged configuration renders differently from the "
                      "reviewed one; the changes differ (now also: local:file/page replace) "
                      "(no longer: local:file/page update)")
    other = Plan("web", None, "sha256:pr", "M", 1, (Change(rid, Action.UPDATE),))
    assert stale_reason(reviewed, other, "sha256:pr") == "the state was replaced (another lineage)"
