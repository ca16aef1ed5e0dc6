"""The YAML form of policy rules: every malformed section is a ConfigError that
names where, never a traceback (the repository is untrusted input)."""

from __future__ import annotations

from typing import Any

import pytest

from driftless.checks import CheckConfig, run_checks
from driftless.errors import ConfigError
from driftless.model import Action, Change, Plan, Resource, ResourceId


@pytest.mark.parametrize(("checks", "message"), [
    ("nope", "settings.checks must be a mapping"),
    ({"rules": "x"}, "settings.checks.rules must be a list"),
    ({"rules": ["x"]}, "a rule needs an id"),
    ({"rules": [{"id": "a", "match": "x"}]}, "match must be a mapping"),
    ({"rules": [{"id": "a", "match": {"actions": 5}}]}, "actions is a list"),
    ({"rules": [{"id": "a", "require": 5}]}, "require must be a list"),
    ({"rules": [{"id": "a", "require": [{"path": "x"}]}]}, "needs exactly one of"),
    ({"rules": [{"id": "a", "require": [{"path": "x", "matches": "("}]}]}, "bad pattern"),
    ({"rules": [{"id": "a", "severity": "fatal"}]}, "severity is error or warning"),
    ({"rules": [{"id": "a", "colour": "red"}]}, "unknown keys colour"),
    ({"rules": [{"id": "DL001"}]}, "two policy rules have the id 'DL001'"),
    ({"severity": [1]}, "settings.checks.severity must be a mapping"),
    ({"severity": {"DL001": "loud"}}, "error or warning"),
    ({"suppress": 5}, "settings.checks.suppress must be a list"),
    ({"suppress": [{"rule": "DL001", "reason": "  "}]}, "needs a rule and a reason"),
], ids=lambda v: str(v)[:40])
def test_malformed_sections(checks: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        CheckConfig.from_settings({"checks": checks})


def _plan(props: dict[str, Any]) -> Plan:
    rid = ResourceId("local", "file", "a")
    return Plan("s", None, "d", "l", 1, (Change(rid, Action.CREATE, Resource(rid, props)),))


@pytest.mark.parametrize(("cond", "props", "flagged"), [
    ({"path": "tags.Owner", "exists": True}, {"tags": {"Owner": "ops"}}, False),
    ({"path": "tags.Owner", "exists": True}, {"tags": {}}, True),
    ({"path": "mode", "exists": False}, {"mode": "0600"}, True),
    ({"path": "mode", "in": ["0600", "0640"]}, {"mode": "0640"}, False),
    ({"path": "mode", "not_in": ["0777"]}, {"mode": "0777"}, True),
    ({"path": "mode", "not_equals": "0777"}, {"mode": "0600"}, False),
    ({"path": "items.1", "equals": "b"}, {"items": ["a", "b"]}, False),
    ({"path": "path", "matches": "^/srv/"}, {"path": 5}, True),
], ids=["exists", "missing", "must-not-exist", "in", "not-in", "not-equals", "list-index",
        "matches-non-string"])
def test_conditions(cond: dict[str, Any], props: dict[str, Any], flagged: bool) -> None:
    config = CheckConfig.from_settings({"checks": {"rules": [
        {"id": "t", "message": "m", "match": {"type": "local:*"}, "require": [cond]}]}})
    assert bool([f for f in run_checks([_plan(props)], config).findings if f.rule == "t"]) \
        is flagged
