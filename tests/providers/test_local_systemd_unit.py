"""local:systemd_unit: unit rendering, reading, diffing; the no-systemd error."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftless.errors import ProviderError
from driftless.model import Action, Change, Resource, ResourceId, Sensitive
from driftless.providers.base import schema_problems
from driftless.providers.local.systemd import (
    SystemdUnitHandler,
    UnitProps,
    render_unit,
    systemd_running,
)

RID = ResourceId("local", "systemd_unit", "edge")

EXPECTED = """\
[Unit]
Description=edge app
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/opt/app/bin/serve --port 8080 'hello world'
Restart=always
User=app
WorkingDirectory=/opt/app
EnvironmentFile=/opt/app/.env
Environment="COLOR=blue \\"dark\\""
Environment="RATIO=50%%"

[Install]
WantedBy=multi-user.target
"""


def test_render_structured_unit() -> None:
    props = UnitProps(
        name="edge", description="edge app",
        exec_start=["/opt/app/bin/serve", "--port", "8080", "hello world"],
        user="app", working_directory="/opt/app", environment_file="/opt/app/.env",
        environment={"RATIO": "50%", "COLOR": 'blue "dark"'}, restart="always",
    )
    assert props.unit_name() == "edge.service"
    assert render_unit(props) == EXPECTED


def test_render_content_is_kept_verbatim() -> None:
    props = UnitProps(name="tick.timer", content="[Timer]\nOnCalendar=hourly")
    assert props.unit_name() == "tick.timer"
    assert render_unit(props) == "[Timer]\nOnCalendar=hourly\n"


@pytest.mark.parametrize(
    "props",
    [{"name": "a"}, {"name": "a", "content": "x", "exec_start": "y"},
     {"name": "../etc/a", "content": "x"}, {"name": "a", "content": "x", "bogus": 1}],
    ids=["no-form", "both-forms", "path-name", "unknown-property"],
)
def test_bad_unit_properties_are_reported(props: dict[str, object]) -> None:
    assert schema_problems(SystemdUnitHandler.spec, props)


def test_read_and_diff_against_an_installed_file(tmp_path: Path) -> None:
    h = SystemdUnitHandler()
    props = {"name": "edge.service", "exec_start": "/bin/true", "unit_dir": str(tmp_path),
             "state": "stopped", "enabled": False,
             "environment": {"TOKEN": Sensitive("t0ps3cret")}}
    desired = Resource(RID, props)
    assert h.read(desired, None) is None
    assert h.diff(desired, None).action is Action.CREATE
    (tmp_path / "edge.service").write_text(render_unit(h.parse(desired)))
    live = h.read(desired, None)
    assert live is not None
    assert "t0ps3cret" not in repr(live.attributes)
    if not systemd_running():
        assert h.diff(desired, live).action is Action.NOOP
    changed = Resource(RID, {**props, "exec_start": "/bin/false"})
    change = h.diff(changed, live)
    assert change.action is Action.UPDATE
    assert [d.path for d in change.diffs] == ["content_sha256"]


@pytest.mark.skipif(systemd_running(), reason="this machine runs systemd as PID 1")
def test_without_systemd_create_points_to_local_service(tmp_path: Path) -> None:
    h = SystemdUnitHandler()
    units = tmp_path / "units"
    units.mkdir()
    desired = Resource(RID, {"name": "edge", "exec_start": "/bin/true",
                             "unit_dir": str(units)})
    with pytest.raises(ProviderError) as err:
        h.create(Change(RID, Action.CREATE, desired))
    assert str(err.value).startswith("local:systemd_unit/edge: systemd is not running as PID 1")
    assert "use local:service here" in str(err.value)
    assert err.value.hint is not None and "local:service" in err.value.hint
    assert list(units.iterdir()) == []  # nothing half-written


def test_delete_removes_the_file_without_systemd(tmp_path: Path) -> None:
    h = SystemdUnitHandler()
    desired = Resource(RID, {"name": "edge", "exec_start": "/bin/true",
                             "unit_dir": str(tmp_path)})
    (tmp_path / "edge.service").write_text(render_unit(h.parse(desired)))
    live = h.read(desired, None)
    assert live is not None
    if systemd_running():
        pytest.skip("would call systemctl on a real unit")
    h.delete(live)
    assert not (tmp_path / "edge.service").exists()
    h.delete(live)  # idempotent
