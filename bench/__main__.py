"""``python -m bench`` (``make bench``): every benchmark, one after another.

Each prints its measurements as ratios against the baseline its issue names.
Run one alone with ``python -m bench.bench_cli`` (whole CLI processes, as a
user runs them; ``--quick`` for a smoke run), or bench_engine, _render,
_agent, _aws_reads, _crash (kill -9 trials, 100 per operation by default,
~20 minutes).
"""

from __future__ import annotations

import subprocess
import sys

MODULES = ("bench.bench_cli", "bench.bench_engine", "bench.bench_render", "bench.bench_agent",
           "bench.bench_aws_reads", "bench.bench_state_size", "bench.bench_crash",
           "bench.bench_fleet_sim")


def main() -> int:
    """Run each benchmark in its own process; report which failed."""
    failed = []
    for module in MODULES:
        print(f"\n== {module} ==", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
