"""Path properties of local kinds: absolute and NUL-free, judged by the schema.

Also: ``source`` files must arrive resolved by render (``KindSpec.read_fields``),
and apply words an unknown kind the way validate does.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftless.errors import ProviderError
from driftless.model import UNKNOWN, Deferred, Resource, ResourceId, Sensitive
from driftless.providers import ProviderSet, schema_problems
from driftless.providers.local import LocalProvider

DRIFTLESS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "driftless"
KINDS = LocalProvider().kinds()

# kind, the other required properties, the path property under test
PATH_PROPS = [
    pytest.param("file", {}, "path", id="file-path"),
    pytest.param("directory", {}, "path", id="directory-path"),
    pytest.param("symlink", {"target": "/srv/x"}, "path", id="symlink-path"),
    pytest.param("template", {"template": "x"}, "path", id="template-path"),
    pytest.param("env_file", {"values": {}}, "path", id="env-file-path"),
    pytest.param("git_checkout", {"repo": "https://example.org/r.git"}, "path",
                 id="git-checkout-path"),
    pytest.param("download", {"url": "https://example.org/f", "sha256": "0" * 64}, "path",
                 id="download-path"),
    pytest.param("command", {"command": "true"}, "cwd", id="command-cwd"),
    pytest.param("command", {"command": "true"}, "creates", id="command-creates"),
    pytest.param("marker_wait", {}, "path", id="marker-wait-path"),
    pytest.param("service", {"command": ["sleep", "1"]}, "cwd", id="service-cwd"),
    pytest.param("service", {"command": ["sleep", "1"]}, "env_file", id="service-env-file"),
    pytest.param("service", {"command": ["sleep", "1"]}, "log", id="service-log"),
    pytest.param("service", {"command": ["sleep", "1"]}, "state_dir", id="service-state-dir"),
    pytest.param("systemd_unit", {"name": "web", "exec_start": "/bin/true"},
                 "working_directory", id="unit-working-directory"),
    pytest.param("systemd_unit", {"name": "web", "exec_start": "/bin/true"},
                 "environment_file", id="unit-environment-file"),
    pytest.param("systemd_unit", {"name": "web", "exec_start": "/bin/true"}, "unit_dir",
                 id="unit-dir"),
]


def _problems(kind: str, props: dict[str, Any]) -> list[str]:
    return schema_problems(KINDS[kind], props)


def _props(kind: str, others: dict[str, Any], prop: str, value: Any) -> dict[str, Any]:
    props = dict(others)
    if "path" in KINDS[kind].model().model_fields:
        props["path"] = "/srv/default"
    props[prop] = value
    return props


@pytest.mark.parametrize(("kind", "others", "prop"), PATH_PROPS)
def test_absolute_path_passes(kind: str, others: dict[str, Any], prop: str) -> None:
    assert _problems(kind, _props(kind, others, prop, "/srv/app/thing")) == []


@pytest.mark.parametrize(("kind", "others", "prop"), PATH_PROPS)
def test_relative_path_is_refused_naming_it(kind: str, others: dict[str, Any],
                                            prop: str) -> None:
    problems = _problems(kind, _props(kind, others, prop, "rel/x"))
    assert problems == [f"property '{prop}': must be an absolute path (got 'rel/x')"]


@pytest.mark.parametrize(("kind", "others", "prop"), PATH_PROPS)
def test_nul_byte_is_refused(kind: str, others: dict[str, Any], prop: str) -> None:
    problems = _problems(kind, _props(kind, others, prop, "/srv/a\0b"))
    assert problems == [f"property '{prop}': must not contain a NUL byte"]


@pytest.mark.parametrize(("kind", "others", "prop"), PATH_PROPS)
def test_unknown_and_deferred_values_pass(kind: str, others: dict[str, Any],
                                          prop: str) -> None:
    deferred = Deferred("${local:directory/d.path}/x",
                        frozenset({ResourceId("local", "directory", "d")}),
                        lambda _lookup: UNKNOWN)
    assert _problems(kind, _props(kind, others, prop, UNKNOWN)) == []
    assert _problems(kind, _props(kind, others, prop, deferred)) == []


@pytest.mark.parametrize(("kind", "others", "prop"), PATH_PROPS)
def test_sensitive_value_is_never_echoed(kind: str, others: dict[str, Any], prop: str) -> None:
    assert _problems(kind, _props(kind, others, prop, Sensitive("/srv/ok"))) == []
    problems = _problems(kind, _props(kind, others, prop, Sensitive("hunter2/rel")))
    assert problems == [f"property '{prop}': must be an absolute path"]


def test_symlink_target_may_be_relative_but_not_hold_nul() -> None:
    assert _problems("symlink", {"path": "/srv/current", "target": "releases/2"}) == []
    assert _problems("symlink", {"path": "/srv/current", "target": "a\0b"}) == [
        "property 'target': must not contain a NUL byte"]


def test_systemd_environment_file_may_be_optional() -> None:
    base = {"name": "web", "exec_start": "/bin/true"}
    assert _problems("systemd_unit", {**base, "environment_file": "-/etc/default/web"}) == []
    assert _problems("systemd_unit", {**base, "environment_file": "-web.env"}) == [
        "property 'environment_file': must be an absolute path (got 'web.env')"]


def test_long_bad_path_is_cut_in_the_message() -> None:
    problems = _problems("file", {"path": "x" * 500})
    assert len(problems[0]) < 150 and problems[0].endswith("...')")


@pytest.mark.parametrize("kind", ["file", "template"])
def test_source_is_a_read_field(kind: str) -> None:
    assert KINDS[kind].read_fields == frozenset({"source"})
    assert _problems(kind, {"path": "/srv/out", "source": "templates/app.j2"}) == []


def test_other_kinds_read_no_repository_files() -> None:
    assert {k for k, spec in KINDS.items() if spec.read_fields} == {"download", "file", "template"}


def _read_then_diff(kind: str, tmp_path: Path, **props: Any) -> None:
    out = tmp_path / "out"
    out.write_text("old\n")
    p, r = LocalProvider(), Resource(ResourceId("local", kind, "app"), {"path": str(out), **props})
    p.diff(r, p.read(r, None))


@pytest.mark.parametrize("kind", ["file", "template"])
def test_relative_source_is_refused_at_plan(kind: str, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match=rf"^local:{kind}/app: source must be resolved by "
                                            r"render"):
        _read_then_diff(kind, tmp_path, source="relative.txt")


@pytest.mark.parametrize("kind", ["file", "template"])
def test_missing_source_names_the_resource(kind: str, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match=rf"^local:{kind}/app: cannot read .*missing\.txt"):
        _read_then_diff(kind, tmp_path, source=str(tmp_path / "missing.txt"))


def test_non_utf8_template_source_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "latin1.j2"
    src.write_bytes("caf\xe9 {{ x }}\n".encode("latin-1"))
    with pytest.raises(ProviderError, match=r"latin1\.j2 is not UTF-8 text \(invalid byte at "
                                            r"offset 3\)"):
        _read_then_diff("template", tmp_path, source=str(src), vars={"x": 1})


def test_validate_reports_a_relative_path_at_its_line(tmp_path: Path) -> None:
    root = _project(tmp_path, {"run": {"type": "local:command", "properties": {
        "command": "true", "cwd": "rel/dir"}}})
    proc = _cli(root, "validate")
    assert proc.returncode == 1
    assert "local:command/run: property 'cwd': must be an absolute path (got 'rel/dir')" \
        in proc.stderr
    assert "stack.yaml:6:" in proc.stderr


def test_provider_set_offers_kind_names_like_validate() -> None:
    providers = ProviderSet()
    names = providers.kind_names("local")
    assert names is not None and "file" in names and names == sorted(names)
    assert providers.kind_names("no-such-provider") is None
    assert providers("local", "fiel") is None
    assert providers("local", "file") is not None


def test_apply_reports_an_unknown_kind_exactly_as_validate(tmp_path: Path) -> None:
    root = _project(tmp_path, {"bad": {"type": "local:fiel", "properties": {
        "path": str(tmp_path / "x")}}})
    validate, apply = _cli(root, "validate"), _cli(root, "apply", "--auto-approve")
    assert validate.returncode == apply.returncode == 1
    assert "did you mean 'file'?" in validate.stderr
    assert _first_error(apply.stderr) == _first_error(validate.stderr)


def _first_error(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("error:"))
    return lines[start:start + 5]


def _project(tmp_path: Path, resources: dict[str, Any]) -> Path:
    root = tmp_path / "proj"
    (root / "stacks" / "app").mkdir(parents=True)
    (root / "driftless.yaml").write_text(yaml.safe_dump(
        {"project": "paths", "stacks": ["stacks/app"]}, sort_keys=False))
    (root / "stacks" / "app" / "stack.yaml").write_text(
        yaml.safe_dump({"resources": resources}, sort_keys=False))
    return root


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([str(DRIFTLESS), "-C", str(root), *args], capture_output=True,
                          text=True, env=env, timeout=120)
