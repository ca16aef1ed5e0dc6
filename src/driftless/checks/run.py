"""Run every rule over a set of plans and decide whether the plan may go on.

``CheckConfig.from_settings`` reads the project's ``settings.checks``;
Python rules come only from the operator (``--checks FILE`` or
``DRIFTLESS_CHECKS``), never from the repository, which is untrusted: a
file of the repository is never imported. I/O: ``load_python_rules``
imports the operator's file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftless.checks.api import Finding, Rule, Severity
from driftless.checks.builtin import BUILTIN_RULES
from driftless.errors import ConfigError
from driftless.model import Plan
from driftless.records import record

if TYPE_CHECKING:
    from driftless.checks.declarative import Suppression

__all__ = ["ENV_CHECKS", "CheckConfig", "CheckReport", "load_python_rules", "operator_rule_files",
           "run_checks"]

ENV_CHECKS = "DRIFTLESS_CHECKS"
"""Colon-separated Python files of operator rules (like ``--checks``)."""


@record
class CheckConfig:
    """Which rules run, at which severity, and which findings the project accepts."""

    rules: tuple[Rule, ...] = BUILTIN_RULES
    severities: Mapping[str, Severity] = field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *,
                      extra: Sequence[Rule] = ()) -> CheckConfig:
        section = settings.get("checks")
        if not extra and (section is None or (isinstance(section, Mapping) and not section)):
            return cls()  # no project rules, severities or suppressions to parse
        from driftless.checks.declarative import (  # only a project with a checks section
            parse_rules,
            parse_severities,
            parse_suppressions,
        )

        rules = (*BUILTIN_RULES, *parse_rules(section), *extra)
        seen: set[str] = set()
        for r in rules:
            if r.id in seen:
                raise ConfigError(f"two policy rules have the id '{r.id}'")
            seen.add(r.id)
        return cls(rules, parse_severities(section), tuple(parse_suppressions(section)))


@record
class CheckReport:
    """Every finding; ``errors`` fail the plan, ``warnings`` are shown."""

    findings: tuple[Finding, ...]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR and not f.suppressed]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING and not f.suppressed]

    @property
    def suppressed(self) -> list[Finding]:
        return [f for f in self.findings if f.suppressed]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary_line(self) -> str:
        return (f"Checks: {len(self.errors)} error(s), {len(self.warnings)} warning(s), "
                f"{len(self.suppressed)} suppressed.")

    def lines(self) -> list[str]:
        """One line per finding, errors first: ``error DL001 addr: message (file:line)``."""
        order = [*self.errors, *self.warnings, *self.suppressed]
        out = []
        for f in order:
            where = f" ({f.where})" if f.where else ""
            tail = f" [suppressed: {f.suppressed}]" if f.suppressed else ""
            out.append(f"{f.severity.value} {f.rule} {f.address}: {f.message}{where}{tail}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "findings": [f.to_json() for f in self.findings]}


def run_checks(plans: Iterable[Plan], config: CheckConfig | None = None) -> CheckReport:
    """Every rule over every plan, with the project's severities and suppressions."""
    config = config or CheckConfig()
    findings: list[Finding] = []
    for plan in plans:
        for rule in config.rules:
            for found in rule.run(plan):
                severity = config.severities.get(found.rule, found.severity)
                reason = next((s.reason for s in config.suppressions
                               if s.covers(found.rule, found.address)), None)
                findings.append(replace(found, severity=severity, suppressed=reason))
    return CheckReport(tuple(findings))


def load_python_rules(paths: Iterable[Path | str]) -> list[Rule]:
    """Every ``Rule`` defined at the top level of the operator's Python files."""
    rules: list[Rule] = []
    for n, path in enumerate(paths):
        path = Path(path)
        spec = importlib.util.spec_from_file_location(f"driftless_user_checks_{n}", path)
        if spec is None or spec.loader is None or not path.is_file():
            raise ConfigError(f"cannot load policy rules from {path}",
                              hint="give a Python file defining rules with @rule(...)")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        rules.extend(v for v in vars(module).values() if isinstance(v, Rule))
    return rules


def operator_rule_files(given: Sequence[Path] | None = None,
                        environ: Mapping[str, str] | None = None) -> list[Path]:
    """``--checks`` files, or else those in ``DRIFTLESS_CHECKS``."""
    if given:
        return list(given)
    raw = (environ if environ is not None else os.environ).get(ENV_CHECKS, "")
    return [Path(p) for p in raw.split(":") if p]
