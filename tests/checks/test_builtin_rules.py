"""Every built-in policy rule: one plan it fails, one plan it passes."""

from __future__ import annotations

from typing import Any

import pytest

from driftless.checks import BUILTIN_RULES, CheckConfig, Severity, run_checks
from driftless.model import Action, Change, LiveResource, Plan, Resource, ResourceId
from driftless.model.values import UNKNOWN, Sensitive


def _rid(address: str) -> ResourceId:
    head, name = address.split("/")
    provider, kind = head.split(":")
    return ResourceId(provider, kind, name)


def _plan(address: str, props: dict[str, Any] | None, action: Action = Action.CREATE, *,
          protect: bool = False, refused: bool = False, destroy: bool = False) -> Plan:
    rid = _rid(address)
    desired = Resource(rid, props, protect=protect) if props is not None else None
    prior = LiveResource(rid, {"id": "x"}) if action is not Action.CREATE else None
    change = Change(rid, action, desired=desired, prior=prior, refused=refused)
    return Plan("infra", None, "sha256:0", "lineage", 1, (change,), destroy=destroy)


_SG = "aws:ec2.SecurityGroup/web"
_BUCKET = "aws:s3.Bucket/data"
_GOOD_BUCKET = {"name": "b", "public_access_block": True, "encryption": "AES256"}
_ADMIN = {"Version": "2012-10-17",
          "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
_READ = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}

# rule id -> (failing plan, passing plan)
CASES: dict[str, tuple[Plan, Plan]] = {
    "DL001": (
        _plan(_SG, {"name": "web", "ingress": [{"port": 22, "cidr_blocks": ["0.0.0.0/0"]}]}),
        _plan(_SG, {"name": "web", "ingress": [{"port": 22, "cidr_blocks": ["10.0.0.0/8"]},
                                               {"port": 443, "cidr_blocks": ["0.0.0.0/0"]}]}),
    ),
    "DL002": (
        _plan(_BUCKET, {**_GOOD_BUCKET, "public_access_block": False}),
        _plan(_BUCKET, _GOOD_BUCKET),
    ),
    "DL003": (
        _plan(_BUCKET, {"name": "b", "public_access_block": True}),
        _plan(_BUCKET, _GOOD_BUCKET),
    ),
    "DL004": (
        _plan("aws:iam.RolePolicy/admin", {"role": "r", "name": "p", "policy": _ADMIN}),
        _plan("aws:iam.RolePolicy/read", {"role": "r", "name": "p", "policy": _READ}),
    ),
    "DL005": (
        _plan("local:service/api", {"command": "api", "env": {"DB_PASSWORD": "hunter2-Xq9vLm"}}),
        _plan("local:service/api", {"command": "api",
                                    "env": {"DB_PASSWORD": Sensitive("hunter2-Xq9vLm")}}),
    ),
    "DL006": (
        _plan(_BUCKET, None, Action.DELETE),
        _plan("aws:ec2.Instance/w", None, Action.DELETE),
    ),
    "DL007": (
        _plan("aws:ec2.Instance/w", {"ami": "ami-1"}),
        _plan("aws:ec2.Instance/w", {"ami": "ami-1",
                                     "metadata_options": {"http_tokens": "required"}}),
    ),
}


def test_every_builtin_rule_has_examples() -> None:
    assert {r.id for r in BUILTIN_RULES} == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fails_then_passes(rule_id: str) -> None:
    failing, passing = CASES[rule_id]
    found = [f for f in run_checks([failing]).findings if f.rule == rule_id]
    assert found, f"{rule_id} did not flag its failing example"
    assert found[0].address == str(failing.changes[0].id)
    assert not [f for f in run_checks([passing]).findings if f.rule == rule_id]


@pytest.mark.parametrize(("ingress", "flagged"), [
    ({"port": 3389, "cidr_blocks": ["0.0.0.0/0"]}, True),
    ({"from_port": 20, "to_port": 25, "cidr_blocks": ["0.0.0.0/0"]}, True),
    ({"protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]}, True),
    ({"port": 22, "ipv6_cidr_blocks": ["::/0"]}, True),
    ({"protocol": "udp", "port": 22, "cidr_blocks": ["0.0.0.0/0"]}, False),
    ({"port": 22, "security_groups": ["sg-1"]}, False),
], ids=["rdp", "range", "all-traffic", "ipv6", "udp", "group-only"])
def test_admin_ports(ingress: dict[str, Any], flagged: bool) -> None:
    report = run_checks([_plan(_SG, {"name": "web", "ingress": [ingress]})])
    assert bool([f for f in report.findings if f.rule == "DL001"]) is flagged


def test_protected_delete_and_destroy() -> None:
    refused = _plan("local:file/keep", None, Action.DELETE, refused=True)
    assert [f.message for f in run_checks([refused]).errors] == ["deletes a protected resource"]
    replaced = _plan(_BUCKET, _GOOD_BUCKET, Action.REPLACE)
    assert run_checks([replaced]).errors[0].rule == "DL006"
    destroy = _plan(_BUCKET, None, Action.DELETE, destroy=True)
    assert run_checks([destroy]).ok, "an explicit destroy is what was asked for"


def test_unknown_values_are_not_judged() -> None:
    report = run_checks([_plan(_SG, {"name": "w", "ingress": [{"port": 22,
                                                               "cidr_blocks": [UNKNOWN]}]})])
    assert report.ok


def test_private_key_in_content() -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    report = run_checks([_plan("local:file/k", {"path": "/tmp/k", "content": key})])
    assert [f.rule for f in report.errors] == ["DL005"]
    assert "private" in report.errors[0].message and "b3Blbn" not in report.errors[0].message


def test_severity_override_and_suppression() -> None:
    config = CheckConfig.from_settings({"checks": {
        "severity": {"DL003": "error"},
        "suppress": [{"rule": "DL001", "address": "aws:ec2.SecurityGroup/*",
                      "reason": "bastion, reviewed"}]}})
    bucket, sg = CASES["DL003"][0], CASES["DL001"][0]
    report = run_checks([bucket, sg], config)
    assert [f.rule for f in report.errors] == ["DL003"]
    assert report.errors[0].severity is Severity.ERROR
    assert [(f.rule, f.suppressed) for f in report.suppressed] == [("DL001", "bastion, reviewed")]


def test_rules_narrowed_by_type_and_action_see_only_those_changes() -> None:
    """``types``/``actions`` skip the other changes before the rule is called; the
    built-in rules narrowed so still find what they found."""
    from driftless.checks import Subject, rule

    seen: list[str] = []

    @rule("t.narrow", types=["local:file"], actions=["create"])
    def narrow(subject: Subject) -> Any:
        seen.append(subject.address)
        yield "seen"

    def change(kind: str, name: str, action: Action) -> Change:
        rid = ResourceId("local", kind, name)
        return Change(rid, action, Resource(rid, {"path": f"/tmp/{name}"}))

    plan = Plan("s", None, "d", "l", 0, (change("file", "a", Action.CREATE),
                                         change("file", "b", Action.UPDATE),
                                         change("directory", "c", Action.CREATE)))
    report = run_checks([plan], CheckConfig(rules=(narrow,)))
    assert seen == ["local:file/a"] and [f.address for f in report.findings] == seen
    assert {r.id: r.types for r in BUILTIN_RULES}["DL002"] == frozenset({"aws:s3.Bucket"})


def test_the_string_walk_of_the_secret_rule_is_the_full_walk() -> None:
    """``_strings`` takes plain dicts in one loop; it yields what the general walk
    yields, in the same order, for values of every shape."""
    from collections.abc import Iterator, Mapping

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from driftless.checks import builtin
    from driftless.model import Deferred, ResourceId

    def general(value: Any, path: str) -> Iterator[tuple[str, str]]:
        if isinstance(value, Sensitive | type(UNKNOWN) | Deferred):
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                yield from general(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list | tuple):
            for n, item in enumerate(value):
                yield from general(item, f"{path}.{n}")
        elif isinstance(value, str):
            yield path, value

    deferred = Deferred("${a.b}", frozenset({ResourceId("local", "file", "a")}), lambda _: "x")
    leaves = (st.text(max_size=3) | st.booleans() | st.integers() | st.none() | st.floats()
              | st.just(Sensitive("s")) | st.just(UNKNOWN) | st.just(deferred))
    values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=2) | st.integers(0, 3), inner,
                                            max_size=3), max_leaves=12)

    @settings(max_examples=300, deadline=None)
    @given(value=values)
    def same(value: Any) -> None:
        assert list(builtin._strings(value, "")) == list(general(value, ""))

    same()
