"""The rule API: what a rule sees of one planned change, and what it reports.

A rule is a function from a ``Subject`` (one change of a plan, with the
properties it will have and the attributes it had) to messages; each message
becomes a ``Finding`` with the rule's id and severity. Built-in rules, the
declarative rules of ``driftless.yaml`` and an operator's Python rules all
use it. Pure data and functions, no I/O.

    from driftless.checks import Subject, rule

    @rule("acme.small-instances", severity="error", title="instances stay small")
    def small(subject: Subject):
        if subject.type == "aws:ec2.Instance" and "xlarge" in str(subject.get("instance_type")):
            yield f"instance type {subject.get('instance_type')} is not allowed"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from enum import StrEnum
from typing import Any

from driftless.model import Action, Change, Plan
from driftless.records import record

__all__ = ["Finding", "Rule", "RuleFunc", "Severity", "Subject", "lookup", "rule"]


class Severity(StrEnum):
    """An error fails the plan; a warning is shown and the plan goes on."""

    ERROR = "error"
    WARNING = "warning"


_MISSING = object()


def lookup(value: Any, path: str, default: Any = None) -> Any:
    """``a.b.0.c`` inside nested mappings and lists, or ``default``."""
    current = value
    for part in path.split(".") if path else ():
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list | tuple) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return default
    return current


@record
class Subject:
    """One change of a plan as rules see it.

    ``properties`` are the desired properties (empty for a delete); values a
    secret holds are ``Sensitive``, values known only after apply are
    ``Unknown``/``Deferred``. ``attributes`` are what state recorded before.
    """

    stack: str
    change: Change
    destroying: bool = False  # the plan is a ``plan --destroy``: deletes are what was asked

    @property
    def address(self) -> str:
        return str(self.change.id)

    @property
    def type(self) -> str:
        """``provider:kind``, e.g. ``aws:s3.Bucket``."""
        return self.change.id.type

    @property
    def action(self) -> Action:
        return self.change.action

    @property
    def properties(self) -> Mapping[str, Any]:
        desired = self.change.desired
        return desired.properties if desired is not None else {}

    @property
    def attributes(self) -> Mapping[str, Any]:
        prior = self.change.prior
        return prior.attributes if prior is not None else {}

    @property
    def protected(self) -> bool:
        desired = self.change.desired
        return bool(desired is not None and desired.protect) or self.change.refused

    @property
    def where(self) -> str | None:
        """``file:line`` of the resource, when it has one."""
        desired = self.change.desired
        return str(desired.source) if desired is not None and desired.source else None

    def get(self, path: str, default: Any = None) -> Any:
        """A desired property by dotted path (``tags.Owner``, ``ingress.0.port``)."""
        return lookup(self.properties, path, default)


@record
class Finding:
    """One rule's verdict on one resource."""

    rule: str
    severity: Severity
    stack: str
    address: str
    message: str
    where: str | None = None
    suppressed: str | None = None  # the reason given in the config, when suppressed

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity.value, "stack": self.stack,
                "address": self.address, "message": self.message, "where": self.where,
                "suppressed": self.suppressed}


RuleFunc = Callable[[Subject], Iterable[str]]


@record
class Rule:
    """A named check; ``check`` yields one message per problem it sees."""

    id: str
    severity: Severity
    title: str
    check: RuleFunc = field(compare=False, repr=False)
    # which changes it looks at: deletes are skipped unless a rule asks for them
    sees_deletes: bool = False
    # only resources of these ``provider:kind`` types / changes of these actions (None:
    # all): the others are skipped before a ``Subject`` is made, which a 10,000-resource
    # plan would otherwise do once per rule per resource for rules that ignore them
    types: frozenset[str] | None = None
    actions: frozenset[Action] | None = None

    def run(self, plan: Plan) -> list[Finding]:
        out: list[Finding] = []
        types, actions = self.types, self.actions
        for change in plan.changes:
            action = change.action
            if action is Action.DELETE and not self.sees_deletes:
                continue
            if action is Action.NOOP and not change.desired:
                continue
            if (types is not None and change.id.type not in types) or (
                    actions is not None and action not in actions):
                continue
            subject = Subject(plan.stack, change, plan.destroy)
            for message in self.check(subject):
                out.append(Finding(self.id, self.severity, plan.stack, subject.address,
                                   message, subject.where))
        return out


def rule(rule_id: str, *, severity: str | Severity = Severity.ERROR, title: str = "",
         sees_deletes: bool = False, types: Iterable[str] | None = None,
         actions: Iterable[Action | str] | None = None) -> Callable[[RuleFunc], Rule]:
    """Make a ``Rule`` of a function (the Python form of a user rule). ``types``
    (``provider:kind``) and ``actions`` narrow the changes it is called for."""

    def wrap(func: RuleFunc) -> Rule:
        return Rule(rule_id, Severity(severity), title or (func.__doc__ or rule_id).strip(),
                    func, sees_deletes,
                    frozenset(types) if types is not None else None,
                    frozenset(Action(a) for a in actions) if actions is not None else None)

    return wrap
