"""Applying: a bounded parallel walk of the plan's dependency graph."""

from driftless.apply.walk import walk

__all__ = ["walk"]
