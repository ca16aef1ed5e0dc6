"""One image update: ask the registries, set the markers, commit, push.

``run_update`` works in a git work tree (a clone the caller owns): it picks
each policy's tag, finds the markers whose value would change, and then

- commits the changes whose rule says *direct* on the checked-out branch,
  with the bot identity and the message template, and pushes it;
- puts each policy whose rule asks for review (``all``, or ``major`` when
  its tag's major version moves) on a branch of its own, made in a
  temporary worktree so the checkout is never switched, and pushes that
  branch once (an existing branch is left for its review).

``dry_run`` stops after the plan. I/O: registry HTTP, file writes in the
work tree, git subprocesses.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from driftless.errors import DriftlessError, SourceError
from driftless.images.config import ImageSettings
from driftless.images.registry import RegistryClient
from driftless.images.setters import LatestImage, SetterChange, update_tree
from driftless.records import record
from driftless.source.semver import parse_tag

__all__ = ["Update", "UpdateReport", "resolve", "run_update"]

_GIT_TIMEOUT = 120.0


@record
class Update:
    """One commit: on the current branch (direct) or on a review branch."""

    branch: str
    direct: bool
    changes: tuple[SetterChange, ...]
    message: str
    commit: str | None = None  # None in a dry run, or when the branch existed already
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"branch": self.branch, "direct": self.direct, "commit": self.commit,
                "message": self.message, "note": self.note,
                "changes": [c.to_json() for c in self.changes]}


@record
class UpdateReport:
    """What the registries said, and what was (or would be) committed."""

    latest: Mapping[str, LatestImage]
    updates: tuple[Update, ...] = ()
    problems: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"latest": {k: v.value(None) for k, v in self.latest.items()},
                "updates": [u.to_json() for u in self.updates], "problems": list(self.problems)}


def resolve(settings: ImageSettings, client: RegistryClient
            ) -> tuple[dict[str, LatestImage], list[str]]:
    """Each policy's latest image; a policy whose registry fails is a problem, not a stop."""
    tags: dict[str, list[str]] = {}
    latest: dict[str, LatestImage] = {}
    problems: list[str] = []
    for name, policy in settings.policies.items():
        image = settings.repositories[policy.repository]
        try:
            if image not in tags:
                tags[image] = client.tags(image)
            tag = policy.latest(tags[image])
            if tag is None:
                problems.append(f"policy {name}: no tag of {image} qualifies")
                continue
            digest = client.digest(image, tag) if name in settings.digests else None
        except DriftlessError as exc:
            problems.append(f"policy {name}: {exc.message}")
            continue
        latest[name] = LatestImage(image, tag, digest)
    return latest, problems


def _tag_of(change: SetterChange, value: str) -> str:
    if change.field == "tag":
        return value
    ref = value.split("@", 1)[0]
    _, sep, tag = ref.rpartition(":")
    return tag if sep and "/" not in tag else ""


def _is_major(change: SetterChange) -> bool:
    old, new = parse_tag(_tag_of(change, change.old)), parse_tag(_tag_of(change, change.new))
    return old is not None and new is not None and old.major != new.major


def _needs_review(settings: ImageSettings, policy: str, changes: Sequence[SetterChange]) -> bool:
    rule = settings.review_rule(policy)
    return rule == "all" or (rule == "major" and any(_is_major(c) for c in changes))


def _message(settings: ImageSettings, changes: Sequence[SetterChange]) -> str:
    moves = sorted({f"{c.policy} {_short(c.old)} → {_short(c.new)}" for c in changes
                    if c.field in (None, "tag")})
    summary = ", ".join(moves) or ", ".join(sorted({c.policy for c in changes}))
    listing = "\n".join(f"- {c.file}:{c.line}: {c.old} → {c.new}" for c in changes)
    text = settings.update.message.replace("{summary}", summary).replace("{changes}", listing)
    if settings.update.skip_ci and "[skip ci]" not in text:
        first, _, rest = text.partition("\n")
        text = f"{first} [skip ci]" + (f"\n{rest}" if rest else "")
    if "{changes}" not in settings.update.message:
        text += "\n\n" + listing
    return text + "\n"


def _short(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def _branch_name(settings: ImageSettings, policy: str, tag: str) -> str:
    name = settings.update.branch.replace("{policy}", policy).replace("{tag}", tag)
    name = re.sub(r"[^A-Za-z0-9._/-]+", "-", name).strip("/.-")
    return name or "images/update"


def run_update(worktree: Path, project_dir: Path, settings: ImageSettings,
               client: RegistryClient, *, dry_run: bool = False, remote: str = "origin",
               push: bool = True) -> UpdateReport:
    """Plan, and unless ``dry_run`` commit and push, one round of image updates."""
    latest, problems = resolve(settings, client)
    found = update_tree(project_dir, latest, paths=settings.update.paths, write=False)
    by_policy: dict[str, list[SetterChange]] = {}
    for change in found:
        by_policy.setdefault(change.policy, []).append(change)
    review = {p for p, cs in by_policy.items() if _needs_review(settings, p, cs)}
    direct = [c for c in found if c.policy not in review]
    planned: list[Update] = []
    if direct:
        planned.append(Update(_git(worktree, "rev-parse", "--abbrev-ref", "HEAD").strip(), True,
                              tuple(direct), _message(settings, direct)))
    for policy in sorted(review):
        changes = by_policy[policy]
        planned.append(Update(_branch_name(settings, policy, latest[policy].tag), False,
                              tuple(changes), _message(settings, changes)))
    if dry_run or not planned:
        return UpdateReport(latest, tuple(planned), tuple(problems))
    done = [_commit(worktree, project_dir, settings, latest, u, remote=remote, push=push)
            for u in planned]
    return UpdateReport(latest, tuple(done), tuple(problems))


def _commit(worktree: Path, project_dir: Path, settings: ImageSettings,
            latest: Mapping[str, LatestImage], update: Update, *, remote: str,
            push: bool) -> Update:
    policies = {c.policy for c in update.changes}
    chosen = {p: latest[p] for p in policies}
    if update.direct:
        commit = _commit_in(worktree, project_dir, settings, chosen, update)
        if push:
            _git(worktree, "push", remote, f"HEAD:refs/heads/{update.branch}")
        return Update(update.branch, True, update.changes, update.message, commit)
    if push and _git(worktree, "ls-remote", remote, f"refs/heads/{update.branch}").strip():
        return Update(update.branch, False, update.changes, update.message, None,
                      "the branch exists already: left for its review")
    with tempfile.TemporaryDirectory(prefix="driftless-images-") as scratch:
        other = Path(scratch) / "wt"
        _git(worktree, "worktree", "add", "--detach", str(other), "HEAD")
        try:
            sub = other / project_dir.resolve().relative_to(worktree.resolve())
            commit = _commit_in(other, sub, settings, chosen, update)
            if push:
                _git(other, "push", remote, f"HEAD:refs/heads/{update.branch}")
        finally:
            _git(worktree, "worktree", "remove", "--force", str(other))
    return Update(update.branch, False, update.changes, update.message, commit)


def _commit_in(tree: Path, project_dir: Path, settings: ImageSettings,
               chosen: Mapping[str, LatestImage], update: Update) -> str:
    written = update_tree(project_dir, chosen, paths=settings.update.paths)
    paths = sorted({str((project_dir / c.file).resolve().relative_to(tree.resolve()))
                    for c in written})
    if not paths:
        raise SourceError("the image update found nothing to write a second time")
    name, email = settings.update.author_name, settings.update.author_email
    ident = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
             "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    _git(tree, "add", "--", *paths)
    _git(tree, "commit", "--quiet", "--no-verify", "-m", update.message, "--", *paths, env=ident)
    return _git(tree, "rev-parse", "HEAD").strip()


def _git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run git; the bot identity goes in the environment, which beats any config."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT, check=True,
                              env={**os.environ, **env} if env else None)
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"git {args[0]} failed: {exc.stderr.strip()[-300:]}") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {_GIT_TIMEOUT:.0f} s") from None
    return done.stdout
