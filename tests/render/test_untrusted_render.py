"""Rendering a repository written by someone else: confinement, names, limits.

Each case writes a small project in tmp_path and renders it through the
public API, as the CLI and the agent do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftless.errors import RenderError
from driftless.model import ResourceId
from driftless.model.policy import Policy
from driftless.providers import ProviderSet
from driftless.render import RenderOptions, load_project, render_stack


def _project(root: Path, resources: dict[str, Any], *, project: dict[str, Any] | None = None,
             variables: dict[str, Any] | None = None) -> Path:
    (root / "stacks" / "app").mkdir(parents=True, exist_ok=True)
    doc = {"project": "t", "stacks": ["stacks/app"], **(project or {})}
    (root / "driftless.yaml").write_text(yaml.safe_dump(doc))
    stack = {"variables": variables or {}, "resources": resources}
    (root / "stacks" / "app" / "stack.yaml").write_text(yaml.safe_dump(stack))
    return root


def _render(root: Path, *, policy: Policy | None = None, env: str | None = None,
            variables: dict[str, str] | None = None) -> Any:
    project = load_project(root, policy=policy or Policy())
    providers = ProviderSet({})
    try:
        return render_stack(project, "app", RenderOptions(env=env, variables=variables or {},
                                                          environ={}),
                            kinds=lambda provider, kind: providers.spec(provider, kind))
    finally:
        providers.close()


def _problems(root: Path, **kwargs: Any) -> str:
    with pytest.raises(RenderError) as caught:
        _render(root, **kwargs)
    return "\n".join(f"{p} | {p.hint}" for p in caught.value.problems)


def _file(path: str, **props: Any) -> dict[str, Any]:
    return {"type": "local:file", "properties": {"path": path, **props}}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("TOP-SECRET-OUTSIDE\n")
    return secret


def test_stack_directory_outside_the_project_is_refused(tmp_path: Path, outside: Path) -> None:
    root = _project(tmp_path / "repo", {})
    (outside.parent / "stack.yaml").write_text("resources: {}\n")
    for entry in ("../outside", str(outside.parent)):
        (root / "driftless.yaml").write_text(f"project: t\nstacks: [{entry}]\n")
        with pytest.raises(RenderError) as caught:
            load_project(root, policy=Policy())
        text = str(caught.value.problems[0])
        assert "outside the project" in text and "driftless.yaml:2:" in text


def test_symlinked_stack_file_leading_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    (outside.parent / "stack.yaml").write_text("resources: {}\n")
    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "app").symlink_to(outside.parent)
    (root / "driftless.yaml").write_text("project: t\nstacks: [stacks/app]\n")
    with pytest.raises(RenderError, match="outside the project"):
        load_project(root, policy=Policy())


def test_operator_can_allow_another_root(tmp_path: Path, outside: Path) -> None:
    (outside.parent / "stack.yaml").write_text("resources: {}\n")
    root = _project(tmp_path / "repo", {})
    (root / "driftless.yaml").write_text("project: t\nstacks: [../outside]\n")
    project = load_project(root, policy=Policy().widened(read_roots=[outside.parent]))
    assert project.stacks["outside"].path == outside.parent.resolve()


@pytest.mark.parametrize("env", ["../../x", "a/b", ".hidden"])
def test_environment_names_cannot_be_paths(tmp_path: Path, env: str) -> None:
    root = _project(tmp_path, {}, project={"environments": [env]})
    with pytest.raises(RenderError, match=f"'{env}' is not a valid environment name"):
        load_project(root, policy=Policy())


def test_overlay_extends_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    root = _project(tmp_path / "repo", {}, project={"environments": ["prod"]})
    (root / "stacks" / "app" / "overlays").mkdir()
    (root / "stacks" / "app" / "overlays" / "prod.yaml").write_text(
        "extends: ../../../../outside/evil\n")
    text = _problems(root, env="prod")
    assert "is not a valid overlay name" in text and "prod.yaml:1:10" in text


def test_symlinked_overlay_leading_outside_is_refused(tmp_path: Path, outside: Path) -> None:
    root = _project(tmp_path / "repo", {}, project={"environments": ["prod"]})
    (root / "stacks" / "app" / "overlays").mkdir()
    evil = outside.parent / "evil.yaml"
    evil.write_text("variables: {}\n")
    (root / "stacks" / "app" / "overlays" / "prod.yaml").symlink_to(evil)
    assert "outside the project" in _problems(root, env="prod")


def test_template_source_is_relative_to_the_stack_and_confined(tmp_path: Path,
                                                               outside: Path) -> None:
    root = _project(tmp_path / "repo", {
        "ok": {"type": "local:template", "properties": {
            "path": str(tmp_path / "out.conf"), "source": "files/t.j2"}}})
    (root / "stacks" / "app" / "files").mkdir()
    (root / "stacks" / "app" / "files" / "t.j2").write_text("hello {{ 1 }}\n")
    desired = _render(root)
    source = desired.resources[0].properties["source"]
    assert source == str((root / "stacks" / "app" / "files" / "t.j2").resolve())
    for bad in ("../../../outside/secret.txt", str(outside), "/dev/zero"):
        _project(root, {"bad": {"type": "local:template", "properties": {
            "path": str(tmp_path / "out.conf"), "source": bad}}})
        text = _problems(root)
        assert "local:template/bad: source:" in text and "outside the project" in text


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a.b", "-x", "a b"])
def test_resource_names_follow_one_pattern(tmp_path: Path, name: str) -> None:
    root = tmp_path
    (root / "stacks" / "app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: t\nstacks: [stacks/app]\n")
    body = yaml.safe_dump({"resources": {name: _file("/tmp/x")}})
    (root / "stacks" / "app" / "stack.yaml").write_text(body)
    assert "is not a valid resource name" in _problems(root)


def test_for_each_keys_are_escaped_and_parse_back(tmp_path: Path) -> None:
    keys = ['a"]b', "new\nline", "ü", "plain"]
    root = _project(tmp_path, {"f": {**_file("/tmp/x/${each.key}"), "for_each": keys}})
    desired = _render(root)
    ids = [r.id for r in desired.resources]
    assert sorted(i.index for i in ids) == sorted(keys)
    for rid in ids:
        assert ResourceId.parse(str(rid)) == rid
    assert 'local:file/f["a\\"]b"]' in [str(i) for i in ids]


def test_duplicate_for_each_items_are_an_error(tmp_path: Path) -> None:
    root = _project(tmp_path, {"f": {**_file("/tmp/x/${each.key}"), "for_each": ["a", "b", "a"]}})
    assert "for_each lists 'a' more than once" in _problems(root)


def test_count_over_the_limit_fails_fast_naming_the_limit(tmp_path: Path) -> None:
    root = _project(tmp_path, {"f": {**_file("/tmp/x/${count.index}"), "count": 1_000_000_000}})
    text = _problems(root)
    assert "over the limit of 10000 (instances)" in text and "--limit instances=N" in text
    policy = Policy().widened(limits={"instances": 20})
    root = _project(tmp_path, {"f": {**_file("/tmp/x/${count.index}"), "count": 21}})
    assert "limit of 20" in _problems(root, policy=policy)


def test_resources_per_stack_limit(tmp_path: Path) -> None:
    root = _project(tmp_path, {f"r{i}": {**_file(f"/tmp/x/{i}"), "count": 3} for i in range(4)})
    text = _problems(root, policy=Policy().widened(limits={"resources": 10}))
    assert "has 12 resources, over the limit of 10 (resources)" in text


def test_self_reference_is_a_validate_error(tmp_path: Path) -> None:
    root = _project(tmp_path, {"f": _file("/tmp/x", content="${f.path}")})
    assert "local:file/f refers to itself" in _problems(root)


def test_failed_expression_does_not_cascade_into_schema_errors(tmp_path: Path) -> None:
    root = _project(tmp_path, {"f": _file("/tmp/x", content="${var.missing}")})
    text = _problems(root)
    assert "missing" in text
    assert "Input should be" not in text and "valid string" not in text


def test_nul_byte_in_a_stack_path_is_an_error_not_a_crash(tmp_path: Path) -> None:
    root = _project(tmp_path, {})
    (root / "driftless.yaml").write_text('project: t\nstacks: {app: {path: "stacks/a\\0b"}}\n')
    with pytest.raises(RenderError, match="NUL byte"):
        load_project(root, policy=Policy())


def test_policy_from_the_environment(tmp_path: Path) -> None:
    policy = Policy.from_environ({"DRIFTLESS_ALLOW_READ": f"{tmp_path}{os.pathsep}/srv",
                                  "DRIFTLESS_LIMIT_INSTANCES": "7"})
    assert policy.limits.instances == 7
    assert tmp_path.resolve() in policy.read_roots


def test_security_doc_lists_every_limit_with_its_default() -> None:
    from dataclasses import fields

    from driftless.model.policy import LIMIT_DOCS, Limits

    doc = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    for f in fields(Limits):
        assert f.name in LIMIT_DOCS
        assert f"| `{f.name}` | {f.default} " in doc, f.name
