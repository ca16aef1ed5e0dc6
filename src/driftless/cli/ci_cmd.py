"""``driftless ci``: what a CI pipeline needs around plan and apply.

``ci github`` writes the GitHub Actions workflows, ``ci affected`` lists the
stacks a change touched (for a workflow's job conditions), and
``ci comment-parts`` splits a markdown plan into pull request comments
under GitHub's size limit. Imports of the CI package stay inside the
commands (start-up speed).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from driftless.cli.context import Context, project_context
from driftless.cli.options import DirOpt, EnvOpt
from driftless.cli.output import console, guard
from driftless.cli.plain import escape

__all__ = ["register"]

ci_app = typer.Typer(help="Generate CI workflows and the helpers they call.",
                     no_args_is_help=True)

_NO_COMMIT = re.compile(r"^0{40}$")

# Options both workflow generators take
ApplyRoleOpt = Annotated[str, typer.Option(
    "--apply-role", help="ARN of the role applies on the default branch assume.")]
RegionOpt = Annotated[str, typer.Option("--region", help="AWS region.")]
PythonOpt = Annotated[str, typer.Option("--python", help="Python version.")]


@ci_app.command("github")
def github(
    plan_role: Annotated[str, typer.Option(
        "--plan-role", help="ARN of the role pull request plans assume (read-only).")],
    apply_role: ApplyRoleOpt, directory: DirOpt = None, env: EnvOpt = None,
    region: RegionOpt = "us-east-1",
    branch: Annotated[str, typer.Option("--branch", help="The default branch.")] = "main",
    install: Annotated[str, typer.Option(
        "--install", help="What the workflows pip-install (a pinned version, a wheel).")]
    = "driftless",
    python: PythonOpt = "3.11",
    out: Annotated[Path, typer.Option("--out", help="Where to write the workflows.")]
    = Path(".github/workflows"),
    save_plans: Annotated[bool, typer.Option(
        "--save-plans", help="Plan pull requests with secrets and keep each plan in git "
                             "(refs/driftless/plans) so the agent applies exactly it.")] = False,
) -> None:
    """Write GitHub Actions workflows: plan on pull requests, apply on the default branch.

    Credentials come from GitHub's OIDC token through aws-actions/configure-aws-credentials
    (permissions: id-token: write); no static keys.

    Example: driftless ci github --plan-role arn:aws:iam::123456789012:role/plan
             --apply-role arn:aws:iam::123456789012:role/apply
    """
    from driftless.ci.github import GithubOptions, render_workflows

    with guard("nothing was written"), project_context(directory=directory, env=env) as ctx:
        stacks, project_dir, target = _where(ctx, out)
        opts = GithubOptions(plan_role, apply_role, region=region, default_branch=branch,
                             project_dir=project_dir, env=env, python=python,
                             install=install, save_plans=save_plans)
        target.mkdir(parents=True, exist_ok=True)
        for name, text in render_workflows(opts, stacks).items():
            (target / name).write_text(text)
            console.print(f"wrote {escape(str(target / name))}")


@ci_app.command("gitlab")
def gitlab(
    plan_role: Annotated[str, typer.Option(
        "--plan-role", help="ARN of the role merge request plans assume (read-only).")],
    apply_role: ApplyRoleOpt, directory: DirOpt = None, env: EnvOpt = None,
    region: RegionOpt = "us-east-1",
    install: Annotated[str, typer.Option(
        "--install", help="What the pipeline pip-installs (a pinned version, a wheel).")]
    = "driftless",
    python: PythonOpt = "3.11",
    out: Annotated[Path, typer.Option("--out", help="The pipeline file to write.")]
    = Path(".gitlab-ci.yml"),
) -> None:
    """Write a GitLab CI pipeline: plan on merge requests, apply on the default branch.

    Credentials come from GitLab's OIDC id_tokens (web identity); no static keys.

    Example: driftless ci gitlab --plan-role arn:aws:iam::123456789012:role/plan
             --apply-role arn:aws:iam::123456789012:role/apply
    """
    from driftless.ci.github import GithubOptions
    from driftless.ci.gitlab import render_gitlab

    with guard("nothing was written"), project_context(directory=directory, env=env) as ctx:
        stacks, project_dir, target = _where(ctx, out)
        opts = GithubOptions(plan_role, apply_role, region=region, project_dir=project_dir,
                             env=env, python=python, install=install)
        target.write_text(render_gitlab(opts, stacks))
        console.print(f"wrote {escape(str(target))}")


def _where(ctx: Context, out: Path) -> tuple[dict[str, tuple[str, ...]], str, Path]:
    """The project's stacks (with what each depends on), its directory relative to
    the repository, and where ``out`` lands (relative to the repository's top)."""
    stacks = {name: ref.depends_on for name, ref in ctx.project.stacks.items()}
    root = ctx.project.root.resolve()
    top = _repo_top(root)
    project_dir = (str(root.relative_to(top)) if top is not None else ".") or "."
    return stacks, project_dir, out if out.is_absolute() or top is None else top / out


def _repo_top(path: Path) -> Path | None:
    for parent in (path, *path.parents):
        if (parent / ".git").exists():
            return parent
    return None


@ci_app.command("affected")
def affected(
    since: Annotated[str, typer.Option("--since", help="The git revision to compare with.")],
    directory: DirOpt = None, env: EnvOpt = None,
    github_output: Annotated[bool, typer.Option(
        "--github-output", help="Print stacks=<json list> for $GITHUB_OUTPUT.")] = False,
) -> None:
    """List the stacks changed since a revision, and those depending on them.

    A revision of all zeros (a new branch) counts every stack as changed.

    Example: driftless ci affected --since origin/main
    """
    from driftless.ci.changes import StackChange, changed_since

    with guard("nothing was compared"), project_context(directory=directory, env=env) as ctx:
        if _NO_COMMIT.match(since):  # a new branch: GitHub's "before" is all zeros
            changes = [StackChange(n, "no previous commit") for n in ctx.order()]
        else:
            with tempfile.TemporaryDirectory(prefix="driftless-base-") as scratch:
                changes = changed_since(ctx.project, since, ctx.options, Path(scratch))
    if github_output:
        typer.echo("stacks=" + json.dumps([c.stack for c in changes]))
        return
    for c in changes:
        console.print(f"{escape(c.stack)}: {escape(c.reason)}")
    if not changes:
        console.print("no stack changed")


@ci_app.command("comment-parts")
def comment_parts(
    markdown: Annotated[Path, typer.Argument(help="The plan as markdown.")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the parts.")],
    key: Annotated[str, typer.Option("--key", help="Names this comment among others.")] = "pr",
    limit: Annotated[int, typer.Option("--limit", help="Characters per comment.")] = 65_536,
) -> None:
    """Split a markdown plan into comments under GitHub's limit (part-001.md, ...).

    Example: driftless ci comment-parts plan.md --out comment-parts
    """
    from driftless.ci.markdown import split_comments

    text = markdown.read_text() if markdown.is_file() else ""
    if not text.strip():  # plan stopped before printing (a render error): say where to look
        text = "## driftless plan\n\nNo plan was made: see the job's log for the error.\n"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.md"):
        old.unlink()
    parts = split_comments(text, key=key, limit=limit)
    for n, part in enumerate(parts, start=1):
        (out / f"part-{n:03d}.md").write_text(part)
    console.print(f"{len(parts)} comment(s) in {escape(str(out))}")


@ci_app.command("save-plan")
def save_plan(
    plan_file: Annotated[Path, typer.Argument(help="A plan saved with plan -out.")],
    directory: DirOpt = None,
    commit: Annotated[str, typer.Option(
        "--commit", help="The pull request's head commit the plan was made at.")] = "HEAD",
    remote: Annotated[str, typer.Option("--remote", help="Where to push the plan refs.")]
    = "origin",
    push: Annotated[bool, typer.Option(help="Push the refs (--no-push: keep them local).")]
    = True,
) -> None:
    """Keep a reviewed plan in git (refs/driftless/plans/<commit>/<stack>) for the agent.

    After the merge the agent applies exactly this plan, or refuses it when the state
    or the configuration moved since (and records why).

    Example: driftless ci save-plan plan.json --commit "$PR_HEAD_SHA"
    """
    from driftless.ci.reviewed import read_plan_file, save_plans

    with guard("no plan was saved"):
        doc = read_plan_file(plan_file)
        root = (directory or Path.cwd()).resolve()
        refs = save_plans(root, doc, head=commit, remote=remote if push else None)
    for ref in refs:
        console.print(f"saved {escape(ref)}")


def register(app: typer.Typer) -> None:
    """Add the ``ci`` group to the application."""
    app.add_typer(ci_app, name="ci")
