"""Change detection: which stacks a commit touched, and which depend on them.

A stack is *changed* when its render digest at the new revision differs from
its digest at the base revision (or it is new, or it does not render at one
of them). Upstream outputs count as unknown on both sides, so the digest
covers only what the stack itself renders from its files, values and
overlays. A stack that depends on a changed stack is planned too: the
upstream's outputs may move. Each selected stack carries the reason.

I/O: ``export_revision`` runs ``git archive``; rendering reads project files.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from driftless.errors import ConfigError, Problem, RenderError
from driftless.records import record
from driftless.render import Project, RenderOptions, load_project, stack_order, validate_stacks

__all__ = ["StackChange", "changed_since", "changed_stacks", "export_revision", "has_revision",
           "stack_digests"]

_GIT_TIMEOUT = 120.0


@record
class StackChange:
    """A stack to plan, and why."""

    stack: str
    reason: str
    digest: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"stack": self.stack, "reason": self.reason, "digest": self.digest}


def _ignore(problem: Problem) -> None:
    """Missing secrets render as placeholders: change detection needs no secrets."""


def stack_digests(project: Project, options: RenderOptions) -> dict[str, str | None]:
    """Every stack's render digest (None when it does not render)."""
    opts = replace(options, on_missing_secret=_ignore)
    _, rendered = validate_stacks(project, opts)
    return {name: (rendered[name].digest if name in rendered else None)
            for name in project.stacks}


def changed_stacks(now: Project, base: Project | None, options: RenderOptions, *,
                   touched: Sequence[str] = ()) -> list[StackChange]:
    """The stacks to plan between ``base`` and ``now``, in dependency order.

    ``touched`` lists changed files (relative to the project root): a file in a
    stack's directory that the render does not read itself (a template or a
    source file read at plan time) changes that stack too.
    """
    after = stack_digests(now, options)
    before = stack_digests(base, options) if base is not None else {}
    selected: dict[str, StackChange] = {}
    for name in stack_order(now, None):
        why = _own_reason(name, before, after) or _touched_reason(now, name, touched)
        if why is None:
            upstream = [d for d in now.stacks[name].depends_on if d in selected]
            if upstream:
                why = f"depends on the outputs of {', '.join(upstream)}, which changed"
        if why is not None:
            selected[name] = StackChange(name, why, after.get(name))
    return list(selected.values())


def _own_reason(name: str, before: Mapping[str, str | None],
                after: Mapping[str, str | None]) -> str | None:
    if name not in before:
        return "new stack"
    old, new = before[name], after[name]
    if new is None:
        return "does not render at this revision"
    if old is None:
        return "did not render at the base revision"
    if old != new:
        return f"its render changed ({_short(old)} → {_short(new)})"
    return None


def _touched_reason(project: Project, name: str, touched: Sequence[str]) -> str | None:
    folder = project.stacks[name].path.resolve()
    root = project.root.resolve()
    hits = [t for t in touched if (root / t).resolve().is_relative_to(folder)]
    if not hits:
        return None
    more = f" and {len(hits) - 1} more" if len(hits) > 1 else ""
    return f"{hits[0]}{more} changed"


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def export_revision(project_root: Path, revision: str, dest: Path) -> Path:
    """Write the tree of ``revision`` into ``dest``; the project's directory inside it."""
    top = _git(project_root, "rev-parse", "--show-toplevel").decode().strip()
    relative = project_root.resolve().relative_to(Path(top).resolve())
    tree = _git(Path(top), "archive", "--format=tar", revision, "--")
    with tarfile.open(fileobj=io.BytesIO(tree)) as archive:
        archive.extractall(dest, filter="data")
    return dest / relative


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True,
                              timeout=_GIT_TIMEOUT)
    except subprocess.CalledProcessError as exc:
        message = exc.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"git {args[0]} failed in {cwd}: {message[-1] if message else exc}",
                          hint="--changed-since takes a revision of the project's repository, "
                               "e.g. origin/main or HEAD~1") from None
    return done.stdout


def has_revision(project_root: Path, revision: str) -> bool:
    """Whether ``revision`` names a commit this clone has (a force push may drop one)."""
    try:
        _git(project_root, "cat-file", "-e", f"{revision}^{{commit}}")
    except ConfigError:
        return False
    return True


def changed_since(project: Project, revision: str, options: RenderOptions,
                  scratch: Path) -> list[StackChange]:
    """The stacks changed between ``revision`` and the working tree of ``project``.

    A revision this clone does not have (a new branch, a force push) changes
    every stack."""
    if not has_revision(project.root, revision):
        return [StackChange(name, f"{revision[:12]} is not in this clone: everything is planned")
                for name in stack_order(project, None)]
    base_root = export_revision(project.root, revision, scratch)
    try:
        base: Project | None = load_project(base_root) if base_root.is_dir() else None
    except RenderError:
        base = None
    root = project.root.resolve()
    touched = {*_lines(_git(root, "diff", "--name-only", "--relative", revision, "--", ".")),
               *_lines(_git(root, "ls-files", "--others", "--exclude-standard", "--", "."))}
    return changed_stacks(project, base, options, touched=sorted(touched))


def _lines(out: bytes) -> list[str]:
    return [line for line in out.decode(errors="replace").splitlines() if line]


def names(changes: Sequence[StackChange]) -> list[str]:
    return [c.stack for c in changes]
