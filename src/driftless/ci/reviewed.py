"""Reviewed plans kept in git: what CI planned for a pull request, for the agent.

CI saves the plan it showed on a pull request (``plan -out``) under
``refs/driftless/plans/<head commit>/<stack>``: a small commit holding
``plan.json`` (that stack's saved plan) and ``meta.json`` (head, stack,
render digest, state lineage and serial). No server beyond the repository.

After the merge the agent looks for the plan of the merged revision: keyed by
the revision itself (fast-forward) or one of its parents (a merge commit),
else by the render digest (a squash merge of the same files). It applies it
only when the state and the render still match what was reviewed;
``stale_reason`` says what moved ("serial 41 → 42"). I/O: git subprocesses
on a repository the caller names.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from driftless.errors import ConfigError, SourceError
from driftless.model import Plan
from driftless.records import record
from driftless.source.gitcmd import GitFailed, GitRunner, credentials_for, redact_url

__all__ = ["PLAN_REFS", "ReviewedPlan", "find_plan", "read_plan_file", "required_stacks",
           "save_plans", "stale_reason", "sync_plans"]

PLAN_REFS = "refs/driftless/plans/"
_GIT_TIMEOUT = 120.0
_IDENT = {"GIT_AUTHOR_NAME": "driftless-ci", "GIT_AUTHOR_EMAIL": "ci@driftless.invalid",
          "GIT_COMMITTER_NAME": "driftless-ci", "GIT_COMMITTER_EMAIL": "ci@driftless.invalid"}


@record
class ReviewedPlan:
    """One stack's reviewed plan and where it was found."""

    head: str
    stack: str
    doc: Mapping[str, Any]  # the saved plan file, with only this stack's plan
    found_by: str  # "commit" or "digest"

    @property
    def plan(self) -> Mapping[str, Any]:
        return dict(self.doc["plans"][0])


def _git(*args: str, cwd: Path | None = None, git_dir: Path | None = None,
         input: bytes | None = None, env: Mapping[str, str] | None = None) -> bytes:
    cmd = ["git", *([f"--git-dir={git_dir}"] if git_dir else []), *args]
    try:
        done = subprocess.run(cmd, cwd=cwd, input=input, capture_output=True, check=True,
                              timeout=_GIT_TIMEOUT, env={**os.environ, **(env or {})})
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"git {args[0]} failed: "
                          f"{exc.stderr.decode(errors='replace').strip()[-300:]}") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {_GIT_TIMEOUT:.0f} s") from None
    return done.stdout


def save_plans(repo: Path, plan_doc: Mapping[str, Any], *, head: str,
               remote: str | None = "origin") -> list[str]:
    """Store each stack of a saved plan file under its ref (and push them); the refs."""
    head = _git("rev-parse", "--verify", f"{head}^{{commit}}", cwd=repo).decode().strip()
    refs = []
    for plan in plan_doc.get("plans") or ():
        stack = str(plan["stack"])
        one = {**plan_doc, "plans": [plan]}
        meta = {"head": head, "stack": stack, "digest": plan.get("digest"),
                "lineage": plan.get("lineage"), "serial": plan.get("serial")}
        commit = _commit_files(repo, {"plan.json": json.dumps(one, indent=1, sort_keys=True),
                                      "meta.json": json.dumps(meta, sort_keys=True)},
                               message=f"reviewed plan of {stack} at {head[:12]}")
        ref = f"{PLAN_REFS}{head}/{stack}"
        _git("update-ref", ref, commit, cwd=repo)
        if remote:
            _git("push", "--quiet", "--force", remote, f"{ref}:{ref}", cwd=repo)
        refs.append(ref)
    if not refs:
        raise ConfigError("the plan file holds no stack's plan")
    return refs


def _commit_files(repo: Path, files: Mapping[str, str], *, message: str) -> str:
    entries = []
    for name, text in sorted(files.items()):
        blob = _git("hash-object", "-w", "--stdin", cwd=repo, input=text.encode()).decode()
        entries.append(f"100644 blob {blob.strip()}\t{name}\n")
    tree = _git("mktree", cwd=repo, input="".join(entries).encode()).decode().strip()
    return _git("commit-tree", tree, "-m", message, cwd=repo, env=_IDENT).decode().strip()


def sync_plans(git_dir: Path, url: str, branch: str | None, *,
               credentials_file: str | None = None) -> None:
    """Fetch the reviewed plans (and ``branch``, for merge parents) into ``git_dir``,
    with the source's credentials (``credentials_file``, ``DRIFTLESS_GIT_TOKEN``)."""
    if not (git_dir / "HEAD").is_file():
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        _git("init", "--quiet", "--bare", str(git_dir))
    clean, header, secret = credentials_for(url, credentials_file=credentials_file,
                                            environ=os.environ)
    runner = GitRunner(git_dir=git_dir, display_url=redact_url(url), auth_header=header,
                       timeout=_GIT_TIMEOUT, secrets=(secret,) if secret is not None else ())
    try:
        runner.run("fetch", "--quiet", "--prune", clean, f"+{PLAN_REFS}*:{PLAN_REFS}*")
    except GitFailed as exc:
        raise SourceError(f"cannot fetch reviewed plans from {redact_url(url)}: "
                          f"{exc.stderr[-300:]}") from None
    if branch:  # for the parents of a merge commit; a tag or a range is no branch
        with contextlib.suppress(GitFailed):
            runner.run("fetch", "--quiet", clean, f"+refs/heads/{branch}:refs/heads/{branch}")


def _parents(git_dir: Path, revision: str) -> list[str]:
    try:
        line = _git("rev-list", "--parents", "-n", "1", revision, git_dir=git_dir).decode()
    except SourceError:
        return []
    return line.split()[1:]


def _load(git_dir: Path, ref: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(_git("show", f"{ref}:plan.json", git_dir=git_dir)))
    except (SourceError, ValueError):
        return None


def find_plan(git_dir: Path, revision: str, stack: str, digest: str) -> ReviewedPlan | None:
    """The reviewed plan of ``stack`` for the merged ``revision``, or None."""
    listed = _git("for-each-ref", "--sort=-committerdate", "--format=%(refname)", PLAN_REFS,
                  git_dir=git_dir).decode().split()
    known = set(listed)
    # a merge commit's other parents are the merged branches' heads; the first parent
    # of any commit is what it was made on, never what it was reviewed as
    for head in [revision, *_parents(git_dir, revision)[1:]]:
        ref = f"{PLAN_REFS}{head}/{stack}"
        doc = _load(git_dir, ref) if ref in known else None
        if doc is not None:
            return ReviewedPlan(head, stack, doc, "commit")
    for ref in listed:
        if not ref.endswith(f"/{stack}"):
            continue
        doc = _load(git_dir, ref)
        if doc is not None and doc["plans"][0].get("digest") == digest:
            head = ref.removeprefix(PLAN_REFS).split("/", 1)[0]
            return ReviewedPlan(head, stack, doc, "digest")
    return None


def _changes(plan: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(c["address"], c["action"]) for c in plan.get("changes") or ()
            if c["action"] not in ("no-op", "read") and not c.get("refused")}


def stale_reason(reviewed: Mapping[str, Any], fresh: Plan, digest: str) -> str | None:
    """Why ``reviewed`` (a saved plan of one stack) is not ``fresh``, or None."""
    reasons = []
    if reviewed.get("lineage") != fresh.lineage:
        reasons.append("the state was replaced (another lineage)")
    elif reviewed.get("serial") != fresh.serial:
        reasons.append(f"serial {reviewed.get('serial')} → {fresh.serial}")
    if reviewed.get("digest") != digest:
        reasons.append("the merged configuration renders differently from the reviewed one")
    now = {(c["address"], c["action"]) for c in fresh.to_json()["changes"]
           if c["action"] not in ("no-op", "read") and not c.get("refused")}
    was = _changes(reviewed)
    if now != was:
        added = sorted(f"{a} {act}" for a, act in now - was)
        gone = sorted(f"{a} {act}" for a, act in was - now)
        reasons.append("the changes differ" + (f" (now also: {', '.join(added)})" if added else "")
                       + (f" (no longer: {', '.join(gone)})" if gone else ""))
    return "; ".join(reasons) or None


def read_plan_file(path: Path) -> dict[str, Any]:
    """A ``plan -out`` file."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the plan file {path}: {exc}",
                          hint="make one with: driftless plan -out plan.json") from None


def required_stacks(settings: Mapping[str, Any]) -> Sequence[str]:
    """``settings.reviewed_plans.require``: stacks applied only from a reviewed plan."""
    section = settings.get("reviewed_plans") or {}
    if not isinstance(section, Mapping):
        raise ConfigError("settings.reviewed_plans must be a mapping, e.g. {require: [prod]}")
    required = section.get("require") or []
    if isinstance(required, str) or not all(isinstance(s, str) for s in required):
        raise ConfigError("settings.reviewed_plans.require is a list of stack names")
    return list(required)
