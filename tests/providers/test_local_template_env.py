"""local:template and local:env_file on real files: strict variables, masked diffs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import ProviderError
from driftless.model import Action, LiveResource, Resource, ResourceId, Sensitive
from driftless.providers.local import LocalProvider
from driftless.providers.local.env_file import format_env, parse_env


def _res(kind: str, **props: Any) -> Resource:
    return Resource(ResourceId("local", kind, "app"), props)


def _apply(p: LocalProvider, r: Resource, prior: LiveResource | None = None) -> LiveResource:
    live = p.apply(p.diff(r, p.read(r, prior)))
    assert live is not None
    return live


def test_template_renders_and_plans_a_var_change(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "app.conf"
    r = _res("template", path=str(path), template="port={{ port }}\n", vars={"port": 80})
    live = _apply(p, r)
    assert path.read_text() == "port=80\n"
    assert p.diff(r, p.read(r, live)).action is Action.NOOP
    r2 = _res("template", path=str(path), template="port={{ port }}\n", vars={"port": 81})
    change = p.diff(r2, p.read(r2, live))
    assert change.action is Action.UPDATE and change.diffs[0].path == "content"
    assert change.diffs[0].shown() == ("port=80\n", "port=81\n")
    p.apply(change)
    assert path.read_text() == "port=81\n"


def test_template_from_source_file(tmp_path: Path) -> None:
    src = tmp_path / "nginx.conf.j2"
    src.write_text("server_name {{ host }};\n")
    p, path = LocalProvider(), tmp_path / "nginx.conf"
    _apply(p, _res("template", path=str(path), source=str(src), vars={"host": "example.org"}))
    assert path.read_text() == "server_name example.org;\n"


def test_undefined_variable_names_variable_and_resource(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "out"
    r = _res("template", path=str(path), template="a={{ defined }} b={{ missing }}",
             vars={"defined": 1})
    with pytest.raises(ProviderError) as err:
        p.apply(p.diff(r, None))
    assert str(err.value).startswith("local:template/app: template: undefined variable")
    assert "'missing' is undefined" in str(err.value)
    assert not path.exists()


def test_template_syntax_error_names_the_source_line(tmp_path: Path) -> None:
    src = tmp_path / "t.j2"
    src.write_text("ok\n{% if %}\n")
    p = LocalProvider()
    r = _res("template", path=str(tmp_path / "o"), source=str(src))
    with pytest.raises(ProviderError, match=r"t\.j2:2: template syntax error"):
        p.apply(p.diff(r, None))


def test_sensitive_var_masks_the_content_diff(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "db.conf"
    text = "password={{ pw }}\n"
    live = _apply(p, _res("template", path=str(path), template=text,
                          vars={"pw": Sensitive("old-pass")}))
    assert path.read_text() == "password=old-pass\n"
    assert "old-pass" not in repr(live)
    r2 = _res("template", path=str(path), template=text, vars={"pw": Sensitive("new-pass")})
    change = p.diff(r2, p.read(r2, live))
    assert change.action is Action.UPDATE
    assert change.diffs[0].shown() == ("(sensitive)", "(sensitive)")
    assert "pass" not in str(change.to_json()).replace("password", "")


def test_env_file_is_0600_and_round_trips_awkward_values(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "app.env"
    values = {"PLAIN": "plain-value", "SPACES": "a b", "QUOTE": 'say "hi" $HOME `x`\\',
              "LINES": "1\n2", "FLAG": True, "N": 3}
    live = _apply(p, _res("env_file", path=str(path), values=values))
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    parsed = parse_env(path.read_text())
    assert parsed == {k: ("true" if v is True else str(v)) for k, v in values.items()}
    assert "plain-value" not in repr(live.attributes)
    assert set(live.attributes["keys"]) == set(values)


def test_env_file_diff_names_keys_and_shows_only_plain_values(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "app.env"
    r = _res("env_file", path=str(path), values={"A": "1", "PW": Sensitive("secret-1")})
    live = _apply(p, r)
    assert p.diff(r, p.read(r, live)).action is Action.NOOP
    r2 = _res("env_file", path=str(path), values={"A": "1", "PW": Sensitive("secret-2"),
                                                  "NEW": "x"})
    change = p.diff(r2, p.read(r2, live))
    assert change.action is Action.UPDATE
    assert [d.path for d in change.diffs] == ["values.NEW", "values.PW"]
    assert change.reason == "values.NEW, values.PW changed"
    shown = {d.path: d.shown() for d in change.diffs}
    assert shown == {"values.NEW": (None, "x"), "values.PW": ("(sensitive)", "(sensitive)")}
    assert "secret" not in str(change.to_json())


def test_env_file_hand_edit_shows_the_edited_key(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "app.env"
    r = _res("env_file", path=str(path), values={"A": "1", "B": "2"})
    live = _apply(p, r)
    path.write_text("A=1\nB=tampered\n# comment\n")
    change = p.diff(r, p.read(r, live))
    assert [d.path for d in change.diffs] == ["values.B"]
    p.apply(change)
    assert parse_env(path.read_text()) == {"A": "1", "B": "2"}


def test_env_key_must_be_a_variable_name(tmp_path: Path) -> None:
    from driftless.providers.base import schema_problems
    spec = LocalProvider().kinds()["env_file"]
    problems = schema_problems(spec, {"path": str(tmp_path / "e"), "values": {"1BAD": "x"}})
    assert problems and "1BAD" in problems[0]


def test_format_env_quotes_only_when_needed() -> None:
    assert format_env({"A": "x", "B": "a b"}) == 'A=x\nB="a b"\n'
