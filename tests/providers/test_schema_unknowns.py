"""Schema checks at plan time look past unknown values, not around them.

A value that references a resource not yet applied cannot be judged, but the
keys and known values beside it can: a misspelt key in a list item that also
holds a reference is reported by validate, not by a failed apply.
"""

from __future__ import annotations

from driftless.model import UNKNOWN, Deferred, ResourceId, Sensitive
from driftless.providers import ProviderSet
from driftless.providers.base import schema_problems

GATEWAY = Deferred("${gateway.id}", frozenset({ResourceId("aws", "ec2.InternetGateway", "g")}),
                   lambda lookup: UNKNOWN)


def _route_table() -> object:
    spec = ProviderSet().spec("aws", "ec2.RouteTable")
    assert spec is not None
    return spec


def test_a_misspelt_key_beside_an_unknown_value_is_reported() -> None:
    props = {"vpc_id": UNKNOWN, "routes": [
        {"destination_cidr_block": "0.0.0.0/0", "gateway_id": GATEWAY}]}
    problems = schema_problems(_route_table(), props)  # type: ignore[arg-type]
    assert "unknown property 'routes.0.destination_cidr_block'" in problems
    assert "missing required property 'routes.0.cidr_block'" in problems


def test_unknown_values_themselves_are_not_judged() -> None:
    props = {"vpc_id": UNKNOWN, "subnet_ids": [GATEWAY],
             "routes": [{"cidr_block": "0.0.0.0/0", "gateway_id": GATEWAY}]}
    assert schema_problems(_route_table(), props) == []  # type: ignore[arg-type]


def test_a_wrong_known_value_inside_a_secret_is_still_reported_without_it() -> None:
    spec = ProviderSet().spec("local", "env_file")
    assert spec is not None
    secret = Sensitive({"1BAD": "topsecret-value"})
    problems = schema_problems(spec, {"path": "/tmp/x.env", "values": secret})
    assert problems and "values" in problems[0]
    assert not any("topsecret-value" in p for p in problems)
