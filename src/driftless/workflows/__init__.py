"""Workflows: multi-step operations above the engine (bootstrap, state migrate).

They sit beside the agent in the layers: they may use the engine, the
renderer's project and the state backends, and are used by the CLI.
"""

from driftless.workflows.bootstrap import BootstrapReport, bootstrap, bootstrap_stack
from driftless.workflows.migrate import MigrationStep, migrate_state, plan_migration

__all__ = [
    "BootstrapReport",
    "MigrationStep",
    "bootstrap",
    "bootstrap_stack",
    "migrate_state",
    "plan_migration",
]
