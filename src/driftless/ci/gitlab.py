"""A GitLab CI pipeline for a driftless project (``driftless ci gitlab``).

- merge requests: validate, ``driftless scan``, ``plan --changed-since`` the
  target branch with policy checks, the markdown plan kept as an artifact
  (split into parts under GitHub's limit as well, for any tool that posts it);
- the default branch: one ``apply-<stack>`` job per stack, ``needs:``
  following the stack dependencies, each in its own ``resource_group`` (one
  apply of a stack at a time), doing nothing when ``ci affected`` does not
  name its stack.

AWS credentials come from GitLab's OIDC ``id_tokens``: the token is written
to a file and boto3 assumes ``AWS_ROLE_ARN`` with it (web identity); no
static keys. The virtualenv is cached. Pure functions returning text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from driftless.ci.github import GithubOptions, dump, job_id

__all__ = ["gitlab_pipeline", "render_gitlab"]

_WEB_IDENTITY = [
    'echo "$DRIFTLESS_ID_TOKEN" > "$CI_PROJECT_DIR/.web-identity-token"',
    'export AWS_WEB_IDENTITY_TOKEN_FILE="$CI_PROJECT_DIR/.web-identity-token"',
]


def _aws(opts: GithubOptions, role: str) -> dict[str, Any]:
    if not opts.aws:
        return {}
    return {"id_tokens": {"DRIFTLESS_ID_TOKEN": {"aud": "sts.amazonaws.com"}},
            "variables": {"AWS_ROLE_ARN": role, "AWS_REGION": opts.region,
                          "AWS_ROLE_SESSION_NAME": "driftless-$CI_PIPELINE_ID"}}


def gitlab_pipeline(opts: GithubOptions, stacks: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The pipeline as a mapping."""
    cd = f"driftless -C {opts.project_dir}"
    env = f" --env {opts.env}" if opts.env else ""
    creds = _WEB_IDENTITY if opts.aws else []
    doc: dict[str, Any] = {
        "stages": ["plan", "apply"],
        "default": {
            "image": f"python:{opts.python}",
            "cache": {"key": {"files": ["pyproject.toml"], "prefix": f"venv-py{opts.python}"},
                      "paths": [".venv"]},
            "before_script": [
                f"test -x .venv/bin/driftless || {{ python -m venv .venv && "
                f".venv/bin/pip install --quiet '{opts.install}'; }}",
                'export PATH="$CI_PROJECT_DIR/.venv/bin:$PATH"'],
        },
        "plan": {
            "stage": "plan",
            "rules": [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}],
            **_aws(opts, opts.plan_role),
            "script": [
                *creds,
                f"{cd} validate{env}",
                f"driftless scan {opts.project_dir}",
                'git fetch --quiet origin "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"',
                f'{cd} plan --changed-since "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"'
                f"{env} --no-secrets --format markdown > plan.md",
                "driftless ci comment-parts plan.md --key mr --out comment-parts",
            ],
            "artifacts": {"when": "always", "paths": ["plan.md", "comment-parts/"],
                          "expose_as": "driftless plan"},
        },
    }
    for stack, deps in stacks.items():
        doc[job_id(stack)] = {
            "stage": "apply",
            "rules": [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}],
            "needs": [{"job": job_id(d), "optional": True} for d in deps if d in stacks],
            "resource_group": f"driftless-{stack}",
            **_aws(opts, opts.apply_role),
            "script": [
                f'{cd} ci affected --since "$CI_COMMIT_BEFORE_SHA"{env} --github-output '
                f"| grep -q '\"{stack}\"' || {{ echo 'stack {stack} unchanged'; exit 0; }}",
                *creds,
                f"{cd} validate{env}",
                f"driftless scan {opts.project_dir}",
                f"{cd} plan --stack {stack}{env}",
                f"{cd} apply --stack {stack}{env} --auto-approve",
            ],
        }
    return doc


def render_gitlab(opts: GithubOptions, stacks: Mapping[str, Sequence[str]]) -> str:
    """``.gitlab-ci.yml`` text."""
    return dump(gitlab_pipeline(opts, stacks)).replace("`driftless ci github`",
                                                       "`driftless ci gitlab`")
