"""The scenario examples render and validate against the installed providers' schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.cli.render_cmd import kind_lookup
from driftless.providers import ProviderSet
from driftless.render import RenderOptions, load_project, validate_stacks

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRETS = {"DRIFTLESS_VAR_api_token": "t", "DRIFTLESS_VAR_db_password": "p",
           "DRIFTLESS_VAR_registry_token": "r"}
CASES = [("edge-app", "stage"), ("edge-app", "prod"), ("product-variants", "managed-stage"),
         ("product-variants", "managed-prod"), ("product-variants", "local-acme"),
         ("never-by-hand", "prod")]


@pytest.mark.parametrize(("example", "env"), CASES, ids=[f"{e}-{v}" for e, v in CASES])
def test_example_validates(example: str, env: str) -> None:
    project = load_project(EXAMPLES / example)
    providers = ProviderSet(project.provider_config(env))
    try:
        options = RenderOptions(env=env, environ=SECRETS)
        problems, rendered = validate_stacks(project, options, kinds=kind_lookup(providers))
    finally:
        providers.close()
    assert problems == []
    assert set(rendered) == set(project.stacks)
    assert all(d.resources for d in rendered.values())


def test_variants_differ_only_where_overlays_say() -> None:
    project = load_project(EXAMPLES / "product-variants")
    managed, local = (
        validate_stacks(project, RenderOptions(env=env, environ=SECRETS))[1]["apps"]
        for env in ("managed-prod", "local-acme"))
    names = lambda d: {str(r.id) for r in d.resources}  # noqa: E731
    assert len([n for n in names(managed) if n.startswith("local:service/api[")]) == 5
    assert "local:service/tunnel" in names(managed) and "local:service/tunnel" not in names(local)
    api0 = next(r for r in local.resources if str(r.id) == "local:service/api[0]")
    assert api0.properties["env"]["STORAGE"] == "local"
