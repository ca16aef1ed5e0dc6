"""Benchmarks: run each module with python -m bench.<name> from the repo root."""
