"""The properties render checked are not checked again by the apply of the same
command (``providers.base.keeping_views``), and nothing else changes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_helpers import files, write_project
from driftless.model import Resource, ResourceId
from driftless.providers.base import keeping_views, schema_problems
from driftless.providers.local.files import HANDLERS

FILE = HANDLERS["file"]
DIRECTORY = HANDLERS["directory"]


def test_a_mapping_checked_in_the_block_is_parsed_to_the_very_same_view(
        tmp_path: Path) -> None:
    props = {"path": str(tmp_path / "x"), "content": "hello"}
    res = Resource(ResourceId("local", "file", "x"), props)
    with keeping_views():
        assert schema_problems(FILE.spec, props) == []
        view = FILE.parse(res)
        assert FILE.parse(res) is view  # taken, not made again
        copy = Resource(res.id, dict(props))  # equal, but another mapping: checked again
        again = FILE.parse(copy)
        assert again == view and again is not view
    assert FILE.parse(res) == view and FILE.parse(res) is not view  # dropped at the end


def test_a_view_is_only_taken_by_the_kind_it_was_checked_for(tmp_path: Path) -> None:
    props = {"path": str(tmp_path / "d")}
    res = Resource(ResourceId("local", "directory", "d"), props)
    with keeping_views():
        assert schema_problems(FILE.spec, props) == []  # a file's view of the mapping
        view = DIRECTORY.parse(res)
        assert type(view).__name__ == "DirectoryView"


def test_outside_the_block_nothing_is_kept(tmp_path: Path) -> None:
    props = {"path": str(tmp_path / "x"), "content": "hello"}
    res = Resource(ResourceId("local", "file", "x"), props)
    assert schema_problems(FILE.spec, props) == []
    assert FILE.parse(res) is not FILE.parse(res)


COUNTING = r'''
import sys
from driftless.providers.local import files_quick
real, calls = files_quick.file_props, [0]
def counted(props):
    calls[0] += 1
    return real(props)
files_quick.file_props = counted
import atexit
atexit.register(lambda: sys.stderr.write(f"\nfile_props calls: {calls[0]}\n"))
sys.argv = ["driftless", *sys.argv[1:]]
from driftless.cli import main
main()
'''


def test_an_apply_checks_each_files_properties_once(tmp_path: Path) -> None:
    """A first apply of 20 files: render checks each file's properties, the apply
    takes those views (before: 40 checks); the files are written as before."""
    root = write_project(tmp_path / "p", files(tmp_path, 20))
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-c", COUNTING, "-C", str(root), "apply",
                           "--auto-approve"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "file_props calls: 20" in done.stderr
    assert len(list((tmp_path / "out").iterdir())) == 20
