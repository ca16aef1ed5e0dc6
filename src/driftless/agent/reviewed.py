"""The agent applies what was reviewed: the plan CI saved for the merged revision.

Called at the end of the plan step for a new revision. It fetches the
reviewed plans of the source (``refs/driftless/plans/*``, see
``driftless.ci.reviewed``) into ``STATE_DIR/reviewed/<source>.git`` and
looks for the merged revision's plan of this stack:

- found and still true (same state lineage and serial, same render, same
  changes): the fresh plan is exactly the reviewed one; the history says so;
- found but stale: refused with the reason ("the reviewed plan is stale:
  serial 41 → 42"); the stack was planned again, and that plan is applied
  unless the project requires reviewed plans for it
  (``settings.reviewed_plans.require``), in which case nothing is applied;
- none, for a stack that requires one: nothing is applied.

I/O: git fetches from the source's URL.
"""

from __future__ import annotations

from driftless.agent.context import ReconcileContext
from driftless.ci.reviewed import find_plan, required_stacks, stale_reason, sync_plans
from driftless.errors import ConfigError, SourceError

__all__ = ["check_reviewed"]


def check_reviewed(ctx: ReconcileContext) -> str:
    """Match the fresh plan against the reviewed one (see the module docstring); what
    the history should say about it ("" when there is nothing to say)."""
    assert ctx.plan is not None and ctx.source is not None
    if ctx.revision == ctx.status.revision:
        return ""  # drift on a deployed revision: nothing new was reviewed
    required = ctx.stack in required_stacks(ctx.project.settings)
    source = ctx.rt.sources.configs[ctx.source_name]
    git_dir = ctx.rt.config.state_dir / "reviewed" / f"{ctx.source_name}.git"
    try:
        sync_plans(git_dir, source.url, source.ref, credentials_file=source.credentials_file)
        found = find_plan(git_dir, ctx.source.revision, ctx.stack, ctx.desired.digest)
    except SourceError as exc:
        if required:
            raise
        return f"reviewed plans not read: {exc.message}"
    if found is None:
        if required and ctx.plan.has_changes():
            raise ConfigError(f"stack '{ctx.stack}' requires a reviewed plan and none was saved "
                              f"for {ctx.source.revision[:7]}; nothing was applied",
                              hint="let CI plan the pull request (driftless ci save-plan)")
        return ""
    reason = stale_reason(found.plan, ctx.plan, ctx.desired.digest)
    if reason is None:
        return f"applying the plan reviewed at {found.head[:7]}"
    message = f"the reviewed plan is stale: {reason}"
    if required:
        raise ConfigError(f"{message}; nothing was applied",
                          hint="push to the pull request again so CI plans and saves it anew")
    return f"{message}; planned again and applied that plan"
