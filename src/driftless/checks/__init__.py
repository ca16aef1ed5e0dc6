"""Policy checks over plans: built-in rules, YAML rules from the project,
Python rules from the operator; see docs/operations/policy-checks.md."""

from typing import Any

from driftless.checks.api import Finding, Rule, Severity, Subject, lookup, rule
from driftless.checks.builtin import BUILTIN_RULES, STATEFUL_TYPES
from driftless.checks.run import (
    ENV_CHECKS,
    CheckConfig,
    CheckReport,
    load_python_rules,
    operator_rule_files,
    run_checks,
)

__all__ = [
    "BUILTIN_RULES",
    "ENV_CHECKS",
    "STATEFUL_TYPES",
    "CheckConfig",
    "CheckReport",
    "Finding",
    "Rule",
    "Severity",
    "Subject",
    "Suppression",
    "load_python_rules",
    "lookup",
    "operator_rule_files",
    "rule",
    "run_checks",
]


def __getattr__(name: str) -> Any:
    """``Suppression`` on first use: the YAML rules module loads only for a project
    with a ``checks`` section (every ``plan`` imports this package)."""
    if name == "Suppression":
        from driftless.checks.declarative import Suppression

        return Suppression
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
