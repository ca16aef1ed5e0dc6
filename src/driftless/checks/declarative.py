"""User rules written in YAML, in ``driftless.yaml`` under ``settings.checks``.

    settings:
      checks:
        rules:
          - id: acme.bucket-owner
            severity: error            # or warning
            message: buckets name their owner
            match: {type: "aws:s3.*", actions: [create, update, replace]}
            require:
              - {path: tags.Owner, exists: true}
              - {path: versioning, equals: true}
        severity: {DL003: error}       # raise or lower a built-in rule
        suppress:
          - rule: DL001
            address: "aws:ec2.SecurityGroup/bastion"
            reason: jump host, limited upstream

The repository is untrusted, so a YAML rule can only compare values:
``exists``, ``equals``, ``not_equals``, ``in``, ``not_in`` and ``matches``
(RE2, linear time). Parsing problems are ``ConfigError``s naming the rule.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from driftless.checks.api import Rule, Severity, Subject, lookup
from driftless.errors import ConfigError, settings_mapping
from driftless.model.values import Deferred, Sensitive, Unknown
from driftless.records import record

__all__ = ["Suppression", "parse_rules", "parse_severities", "parse_suppressions"]

_TESTS = ("exists", "equals", "not_equals", "in", "not_in", "matches")
_ACTIONS = ("create", "update", "replace", "delete", "no-op", "read")


@record
class Suppression:
    """A finding the project accepts, and why."""

    rule: str
    address: str  # a glob over addresses; "*" for every resource
    reason: str

    def covers(self, rule_id: str, address: str) -> bool:
        return self.rule == rule_id and fnmatch.fnmatchcase(address, self.address)


def _where(n: int) -> str:
    return f"settings.checks.rules[{n}]"


def _require(cond: Any, where: str) -> tuple[str, str, Any]:
    if not isinstance(cond, Mapping) or not isinstance(cond.get("path"), str):
        raise ConfigError(f"{where}: each require entry needs a path",
                          hint="example: {path: tags.Owner, exists: true}")
    tests = [t for t in _TESTS if t in cond]
    extra = set(cond) - {"path", *_TESTS}
    if len(tests) != 1 or extra:
        raise ConfigError(f"{where}: require entry for '{cond['path']}' needs exactly one of "
                          f"{', '.join(_TESTS)}")
    test = tests[0]
    value = cond[test]
    if test == "matches":
        import re2  # loaded only by a check that matches a pattern

        try:
            value = re2.compile(str(value))
        except re2.error as exc:
            raise ConfigError(f"{where}: bad pattern '{cond[test]}': {exc}") from None
    if test in ("in", "not_in") and not isinstance(value, list):
        raise ConfigError(f"{where}: '{test}' takes a list")
    return cond["path"], test, value


def _holds(test: str, expected: Any, actual: Any) -> bool | None:
    """Whether the condition holds; None when the value is not known (not judged)."""
    if isinstance(actual, Unknown | Deferred | Sensitive):
        return None if test != "exists" else bool(expected)
    if test == "exists":
        return (actual is not None) == bool(expected)
    if test == "matches":
        return isinstance(actual, str) and expected.search(actual) is not None
    if test in ("in", "not_in"):
        return bool(actual in expected) == (test == "in")
    return bool(actual == expected) == (test == "equals")


def _describe(path: str, test: str, raw: Any) -> str:
    shown = raw.pattern if test == "matches" else raw
    return f"{path} {test.replace('_', ' ')} {shown!r}" if test != "exists" else \
        f"{path} {'is set' if raw else 'is not set'}"


def _one(n: int, doc: Any) -> Rule:
    where = _where(n)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("id"), str):
        raise ConfigError(f"{where}: a rule needs an id")
    unknown = set(doc) - {"id", "severity", "message", "match", "require"}
    if unknown:
        raise ConfigError(f"{where} ({doc['id']}): unknown keys {', '.join(sorted(unknown))}",
                          hint="keys: id, severity, message, match, require")
    try:
        severity = Severity(str(doc.get("severity", "error")))
    except ValueError:
        raise ConfigError(f"{where} ({doc['id']}): severity is error or warning") from None
    match = settings_mapping(doc.get("match"), f"{where} ({doc['id']}).match")
    types, address = str(match.get("type", "*")), str(match.get("address", "*"))
    actions = match.get("actions", ["create", "update", "replace", "no-op", "read"])
    if not isinstance(actions, list) or not set(map(str, actions)) <= set(_ACTIONS):
        raise ConfigError(f"{where} ({doc['id']}): actions is a list of {', '.join(_ACTIONS)}")
    conds = [_require(c, f"{where} ({doc['id']})")
             for c in _list(doc.get("require"), f"{where} ({doc['id']}).require")]
    message = str(doc.get("message", doc["id"]))

    def check(subject: Subject) -> Iterator[str]:
        if subject.action.value not in actions or not fnmatch.fnmatchcase(subject.type, types) \
                or not fnmatch.fnmatchcase(subject.address, address):
            return
        for path, test, value in conds:
            if _holds(test, value, lookup(subject.properties, path)) is False:
                yield f"{message}: expected {_describe(path, test, value)}"

    return Rule(doc["id"], severity, message, check, sees_deletes="delete" in actions)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list")
    return value


def _section(checks: Any) -> Mapping[str, Any]:
    if checks is None:
        return {}
    if not isinstance(checks, Mapping):
        raise ConfigError("settings.checks must be a mapping (rules, severity, suppress)")
    return checks


def parse_rules(checks: Any) -> list[Rule]:
    """The YAML rules of a ``settings.checks`` section."""
    rules = _list(_section(checks).get("rules"), "settings.checks.rules")
    return [_one(n, doc) for n, doc in enumerate(rules)]


def parse_severities(checks: Any) -> dict[str, Severity]:
    """Rule id -> the severity the project gives it."""
    out: dict[str, Severity] = {}
    for rule_id, value in settings_mapping(_section(checks).get("severity"),
                                   "settings.checks.severity").items():
        try:
            out[str(rule_id)] = Severity(str(value))
        except ValueError:
            raise ConfigError(f"settings.checks.severity.{rule_id}: error or warning") from None
    return out


def parse_suppressions(checks: Any) -> list[Suppression]:
    """Suppressions; each needs a rule and a reason (an address glob is optional)."""
    out = []
    for n, doc in enumerate(_list(_section(checks).get("suppress"), "settings.checks.suppress")):
        if not isinstance(doc, Mapping) or not doc.get("rule") or not \
                str(doc.get("reason", "")).strip():
            raise ConfigError(f"settings.checks.suppress[{n}]: a suppression needs a rule "
                              "and a reason",
                              hint="example: {rule: DL003, address: 'aws:s3.Bucket/logs', "
                                   "reason: 'access logs, no data'}")
        out.append(Suppression(str(doc["rule"]), str(doc.get("address", "*")),
                               str(doc["reason"]).strip()))
    return out
