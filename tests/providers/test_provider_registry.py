"""Provider loading: driftless's own providers without scanning installed packages."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from driftless.errors import ConfigError
from driftless.providers.registry import BUILTIN, GROUP, load_provider


def test_builtin_table_is_what_the_package_declares() -> None:
    """The table used without importlib.metadata equals the installed entry points
    of driftless itself, so the two can never disagree."""
    ours = {ep.name: ep.value for ep in entry_points(group=GROUP)
            if ep.value.startswith("driftless.")}
    assert ours == BUILTIN


def test_a_builtin_provider_loads_without_importlib_metadata() -> None:
    code = ("import sys\nfrom driftless.providers.registry import load_provider\n"
            "p = load_provider('local')\nprint(p.name, 'importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["local", "False"]


def test_an_unknown_provider_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="provider 'nosuch' is not installed") as info:
        load_provider("nosuch")
    assert "local" in (info.value.hint or "")
