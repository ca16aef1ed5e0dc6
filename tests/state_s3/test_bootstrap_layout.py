"""``bootstrap`` rewrites only the ``state:`` value of driftless.yaml; every other byte stays.

The rewrite is checked directly over every example's driftless.yaml and a
set of synthetic layouts, and once through the real ``driftless bootstrap``
command against the moto server.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from driftless.cli import app
from driftless.errors import ConfigError
from driftless.workflows.bootstrap import set_state_url

EXAMPLES = sorted(Path(__file__).parents[2].glob("examples/*/driftless.yaml"))
URL = "s3://bkt/p?region=eu-west-1&lock_table=locks"


def _assert_only_state_changed(before: str, after: str, old: str | None, new: str) -> None:
    """``after`` is ``before`` with the literal ``old`` swapped for ``new``, or with one
    line ``state: new`` added when there was no ``state:``."""
    if old is not None:
        assert after == before.replace(old, new, 1)
        return
    lines = after.splitlines(keepends=True)
    added = [i for i, line in enumerate(lines) if line.rstrip("\r\n").strip() == f"state: {new}"]
    assert len(added) == 1, after
    rest = lines[:added[0]] + lines[added[0] + 1:]
    if added[0] == len(lines) - 1 and not lines[-1].endswith("\n"):  # appended at EOF
        assert "".join(rest) == before + ("\r\n" if "\r\n" in before else "\n")
    else:
        assert "".join(rest) == before


def _rewrite(tmp_path: Path, text: str, url: str = URL) -> str:
    path = tmp_path / "driftless.yaml"
    path.write_bytes(text.encode())
    assert set_state_url(path, url)
    after = path.read_bytes().decode()
    assert yaml.safe_load(after)["state"] == url
    assert not set_state_url(path, url)  # a second run finds it in place
    assert path.read_bytes().decode() == after
    return after


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_keeps_its_layout(tmp_path: Path, example: Path) -> None:
    before = example.read_text()
    old = yaml.safe_load(before).get("state")
    after = _rewrite(tmp_path, before)
    _assert_only_state_changed(before, after, old, URL)


LAYOUTS = {
    "two-space": ("project: p\nstate: sqlite:///x.db\nproviders:\n  aws:\n    region: r\n"
                  "stacks:\n  - a\n  - b   # second\n", "sqlite:///x.db", URL),
    "four-space": ("project: p\nstate: sqlite:///x.db\nproviders:\n    aws:\n        region: r\n"
                   "stacks:\n    - a\n", "sqlite:///x.db", URL),
    "indentless-list": ("project: p\nstacks:\n- a\n- b\nstate: sqlite:///x.db\n",
                        "sqlite:///x.db", URL),
    "flow": ("{project: p, state: 'sqlite:///x.db', stacks: [a]}", "'sqlite:///x.db'",
             f"'{URL}'"),
    "comment-on-state": ('# top\nproject: p\n\nstate: "sqlite:///x.db"    # local for now\n'
                         "stacks:\n  - a\n", '"sqlite:///x.db"', f'"{URL}"'),
    "empty-state": ("project: p\nstate:   # filled by bootstrap\nstacks: [a]\n",
                    "state:", f"state: {URL}"),
    "no-final-newline": ("project: p\nstacks:\n  - a\nstate: sqlite:///x.db",
                         "sqlite:///x.db", URL),
    "crlf": ("project: p\r\nstate: sqlite:///x.db\r\nstacks:\r\n  - a\r\n",
             "sqlite:///x.db", URL),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_synthetic_layouts_change_only_the_value(tmp_path: Path, name: str) -> None:
    before, old, new = LAYOUTS[name]
    _assert_only_state_changed(before, _rewrite(tmp_path, before), old, new)


ABSENT = {
    "after-project": "# c\nproject: p   # name\n\n# the stacks\nstacks:\n  - a\n",
    "no-project": "stacks:\n    - a\n",
    "project-last-no-newline": "stacks: [a]\nproject: p",
    "crlf": "project: p\r\nstacks:\r\n  - a\r\n",
    "indented-document": "  project: p\n  stacks: [a]\n",
}


@pytest.mark.parametrize("name", sorted(ABSENT))
def test_missing_state_gets_one_top_level_line(tmp_path: Path, name: str) -> None:
    before = ABSENT[name]
    after = _rewrite(tmp_path, before)
    _assert_only_state_changed(before, after, None, URL)
    if "project:" in before:  # right below project:, not after a blank line or comment
        lines = after.splitlines()
        at = next(i for i, line in enumerate(lines) if "state:" in line)
        assert "project:" in lines[at - 1]


def test_missing_state_in_flow_mapping(tmp_path: Path) -> None:
    after = _rewrite(tmp_path, "{project: p, stacks: [a]}\n")
    assert after == f"{{project: p, state: \"{URL}\", stacks: [a]}}\n"


def test_url_that_plain_yaml_cannot_hold_is_double_quoted(tmp_path: Path) -> None:
    url = "s3://b/k?tag=a,b"  # a comma ends a plain scalar in a flow mapping
    after = _rewrite(tmp_path, "{project: p, state: x, stacks: [a]}", url)
    assert after == '{project: p, state: "s3://b/k?tag=a,b", stacks: [a]}'


def test_block_scalar_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "driftless.yaml"
    path.write_text("project: p\nstate: |\n  sqlite:///x.db\n")
    with pytest.raises(ConfigError, match=r"driftless.yaml:2: state is not a one-line string"):
        set_state_url(path, URL)
    assert path.read_text() == "project: p\nstate: |\n  sqlite:///x.db\n"


PROJECT = """\
# two-space project, comments everywhere
project: layout   # its name
state: sqlite:///.driftless/state.db   # local until bootstrap

providers:
  local: {}
stacks:
  - web    # the only stack
settings:
  prune: false
"""


def test_driftless_bootstrap_command_keeps_the_layout(tmp_path: Path, aws_creds: str) -> None:
    root = tmp_path / "proj"
    (root / "web").mkdir(parents=True)
    (root / "driftless.yaml").write_text(PROJECT)
    (root / "web" / "stack.yaml").write_text("resources: {}\n")
    url = f"s3://layout-{uuid.uuid4().hex[:10]}/layout?region=us-east-1&endpoint={aws_creds}"
    result = CliRunner().invoke(app, ["bootstrap", "-C", str(root), "--backend", url,
                                      "--lock-table", "layout-locks"])
    assert result.exit_code == 0, result.output
    after = (root / "driftless.yaml").read_text()
    written = yaml.safe_load(after)["state"]
    assert written.startswith(f"s3://{url[5:].split('?')[0]}?") and "lock_table=" in written
    _assert_only_state_changed(PROJECT, after, "sqlite:///.driftless/state.db", written)
    shutil.rmtree(root / ".driftless", ignore_errors=True)
