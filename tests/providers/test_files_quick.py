"""The pydantic-free checks of the path kinds agree with their pydantic models.

``files_quick`` may only vouch for properties the model accepts, with the
same values; anything else it must leave to the model. Hypothesis throws
mixes of plain, odd and wrong values at both and compares.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from driftless.model import ResourceId, Sensitive
from driftless.model.resource import Resource
from driftless.providers.base import schema_problems
from driftless.providers.local import files_quick
from driftless.providers.local.files import FileHandler
from driftless.providers.local.files_paths import DirectoryHandler, SymlinkHandler
from driftless.providers.local.files_schema import DirectoryProps, FileProps, SymlinkProps

TEXTS = st.sampled_from([
    "/tmp/a", "/", "/x/../y", "relative/path", "", "/with\0nul", "0644", "644", "00644",
    "0888", "06444", "0644\n", "\n0644", "٦٤٤", "root", "/tmp/é", " /tmp/a",
]) | st.text(max_size=8)
VALUES = (st.none() | st.booleans() | st.integers(-3, 70000) | TEXTS | st.floats(0, 10)
          | st.lists(st.integers(), max_size=2) | st.binary(max_size=3))
PLAUSIBLE = {  # values of the right type per field, so that most cases are close calls
    "path": st.sampled_from(["/tmp/a", "/srv/app/.env", "/", "/tmp/a\0", "tmp/a"]),
    "mode": st.sampled_from(["0644", "644", "0755", "01777", "7777", "00644", "0648", "64"]),
    "owner": st.sampled_from(["root", 0, 1000, True, "", -1]),
    "group": st.sampled_from(["staff", 0, 50, False]),
    "make_parents": st.booleans(), "purge": st.booleans(),
    "content": st.text(max_size=5), "source": st.sampled_from(["/repo/f", "f"]),
    "target": st.sampled_from(["../x", "/etc/hosts", "a\0b", ""]),
}
CASES = [
    (files_quick.file_props, FileProps, [*sorted(FileProps.model_fields), "bogus"]),
    (files_quick.directory_props, DirectoryProps,
     [*sorted(DirectoryProps.model_fields), "content"]),
    (files_quick.symlink_props, SymlinkProps, [*sorted(SymlinkProps.model_fields), "mode"]),
]


def _agrees(check: Any, model: type[BaseModel], props: dict[str, Any]) -> bool:
    """Whether ``check`` vouched; when it did, the model must accept the same values."""
    view = check(props)
    if view is None:
        return False
    try:
        validated = model.model_validate(props)
    except ValidationError as exc:  # pragma: no cover - the failure this test hunts
        pytest.fail(f"quick check accepted {props!r}, the model refused: {exc}")
    assert view._asdict() == validated.model_dump()
    return True


@pytest.mark.parametrize(("check", "model", "keys"), CASES, ids=["file", "directory", "symlink"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_whatever_the_check_accepts_the_model_accepts(check: Any, model: type[BaseModel],
                                                      keys: list[str], data: Any) -> None:
    props = {}
    for key in keys:  # each field present or not; the stray last key rarely
        if data.draw(st.integers(0, 5)) < (1 if key == keys[-1] else 3 + (key == "path") * 2):
            wild = key not in PLAUSIBLE or data.draw(st.integers(0, 5)) == 0  # 1 in 6 anything
            props[key] = data.draw(VALUES if wild else PLAUSIBLE[key])
    _agrees(check, model, props)


@pytest.mark.parametrize("props", [
    {"path": "/tmp/a"},
    {"path": "/tmp/a", "content": "hi\n", "mode": "0644", "make_parents": True},
    {"path": "/tmp/a", "source": "/repo/f", "mode": "755", "owner": "root", "group": 0},
    {"path": "/tmp/a", "content": "", "mode": "01777", "owner": 1000, "group": "staff"},
])
def test_plain_file_properties_skip_the_model(props: dict[str, Any]) -> None:
    assert _agrees(files_quick.file_props, FileProps, props)


@pytest.mark.parametrize("props", [
    {"path": "relative"},
    {"path": "/tmp/a\0b"},
    {"path": "/tmp/a", "content": "x", "source": "/repo/f"},
    {"path": "/tmp/a", "mode": "0644\n"},
    {"path": "/tmp/a", "mode": "10644"},
    {"path": "/tmp/a", "owner": True},
    {"path": "/tmp/a", "make_parents": "yes"},
    {"path": "/tmp/a", "conten": "typo"},
    {"content": "no path"},
])
def test_anything_else_is_left_to_the_model(props: dict[str, Any]) -> None:
    assert files_quick.file_props(props) is None


def test_schema_problems_still_reports_what_the_check_leaves() -> None:
    problems = schema_problems(FileHandler.spec, {"path": "rel", "content": "x"})
    assert problems and "absolute" in problems[0]
    assert schema_problems(FileHandler.spec, {"path": "/tmp/a", "content": "x"}) == []


def test_parse_gives_the_view_for_plain_and_the_model_otherwise() -> None:
    rid = ResourceId.parse("local:file/a")
    plain = FileHandler().parse(Resource(rid, {"path": "/tmp/a", "content": "x"}))
    assert isinstance(plain, files_quick.FileView) and plain.content == "x"
    secret = FileHandler().parse(Resource(rid, {"path": "/tmp/a",
                                                "content": Sensitive("s3cret")}))
    assert secret.content == "s3cret"  # revealed before the check, so still a view
    odd = FileHandler().parse(Resource(rid, {"path": "/tmp/a", "owner": True}))
    assert isinstance(odd, FileProps)


def test_every_path_kind_declares_its_check() -> None:
    for handler in (FileHandler, DirectoryHandler, SymlinkHandler):
        assert handler.spec.quick.startswith("driftless.providers.local.files_quick:")


def test_ssh_kinds_never_take_the_local_check() -> None:
    """An ssh kind's schema adds ``ssh_target``, which the local check would refuse
    to know; its spec must leave every property set to the model."""
    from driftless.providers.ssh import KINDS, _targeted_class

    for kind, module in KINDS.items():
        assert _targeted_class(kind, module).spec.quick == ""


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(sorted(PLAUSIBLE)), props=st.fixed_dictionaries(
    {"path": st.just("/tmp/a")}, optional={k: v for k, v in PLAUSIBLE.items() if k != "path"}))
def test_a_secret_anywhere_is_left_unjudged(field: str, props: dict[str, Any]) -> None:
    """``schema_problems`` asks the checks about unrevealed properties first, so a
    check must never vouch for a value wrapped as a secret (it judges it revealed)."""
    hidden = {**props, field: Sensitive(props.get(field, "x"))}
    for check in (files_quick.file_props, files_quick.directory_props,
                  files_quick.symlink_props):
        assert check(hidden) is None


def test_a_secret_content_is_still_valid() -> None:
    spec = FileHandler.spec
    assert schema_problems(spec, {"path": "/tmp/a", "content": Sensitive("s3cret")}) == []
    assert schema_problems(spec, {"path": "tmp/a", "content": Sensitive("s3cret")}) != []
