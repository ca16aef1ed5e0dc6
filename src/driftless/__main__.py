"""``python -m driftless``."""

from driftless.cli import script

script()
