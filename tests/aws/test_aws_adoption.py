"""An EC2 instance that lost its state is found by its address tag and reported
as not managed, never created twice; ``--adopt`` records it in state."""

from __future__ import annotations

from pathlib import Path

from helpers import res

from driftless.engine import Engine
from driftless.model import Action, Change
from driftless.plan import adopt_unmanaged
from driftless.providers import ProviderSet
from driftless.state.sqlite import from_url
from engine_helpers import stack


def test_tagged_instance_without_state_is_unmanaged_then_adopted(aws_env: str,
                                                                 tmp_path: Path) -> None:
    providers = ProviderSet({"aws": {"region": "us-east-1", "endpoint_url": aws_env}})
    ami = providers.get("aws").lookup("ec2.ami", {"owners": ["amazon"]})[0]["id"]
    inst = res("ec2.Instance", "w", {"ami": ami, "tags": {"Role": "w"}})
    created = providers.get("aws").apply(Change(inst.id, Action.CREATE, inst))  # state lost
    assert created is not None
    eng = Engine(providers=providers, backend=from_url("sqlite:///state.db", tmp_path))
    desired = stack("infra", [inst])
    plan = eng.plan(desired)
    (change,) = plan.unmanaged()
    assert change.prior is not None and change.prior.attributes["id"] == created.attributes["id"]
    assert not plan.pending(), "an instance found by its tag is never created again"
    assert eng.apply(adopt_unmanaged(plan), desired).ok
    state = eng.backend.read("infra").resources[inst.id]
    assert state.attributes["id"] == created.attributes["id"]
    assert not eng.plan(desired).has_changes()
