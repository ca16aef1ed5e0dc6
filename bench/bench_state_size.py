"""State size (issue 11): the SQLite state of 10,000 local files of 1 KB, goal < 5 MB.

Runs the real CLI (``driftless apply --auto-approve``) on a one-stack project
of N ``local:file`` resources of 1 KB each and prints the state file's size
(state.db plus any WAL left) after:

1. the first apply (the goal: under 5 MB at 10,000 files);
2. an apply that changes every file, which also keeps the previous version
   of every row for the snapshot history (``?history=N``, default 10): the
   cost of a kept snapshot in which everything changed;
3. the same two applies with ``?history=0`` (no snapshots), for comparison.

Run: python -m bench.bench_state_size [--files N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

CLI = [sys.executable, "-m", "driftless"]
GOAL = 5_000_000


def _project(root: Path, files: int, *, version: int, url: str) -> None:
    out = root / "out"
    resources: dict[str, Any] = {
        f"file_{i:05d}": {"type": "local:file", "properties": {
            "path": str(out / f"file-{i:05d}.txt"),
            "content": f"v{version} {i:05d} " + "x" * 990, "make_parents": True}}
        for i in range(files)}
    (root / "stacks" / "site").mkdir(parents=True, exist_ok=True)
    (root / "driftless.yaml").write_text(yaml.safe_dump(
        {"project": "size", "state": url, "stacks": ["stacks/site"]}, sort_keys=False))
    (root / "stacks" / "site" / "stack.yaml").write_text(
        yaml.safe_dump({"resources": resources}, sort_keys=False))


def _apply(root: Path) -> float:
    started = time.monotonic()
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.run([*CLI, "-C", str(root), "apply", "--auto-approve"], env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"apply failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.monotonic() - started


def _size(root: Path) -> int:
    db = root / ".driftless" / "state.db"
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


def measure(files: int, *, history: int | None) -> tuple[int, int]:
    """State bytes after the first apply and after an apply changing every file."""
    url = "sqlite:///.driftless/state.db" + ("" if history is None else f"?history={history}")
    with tempfile.TemporaryDirectory(prefix="bench-state-size-") as tmp:
        root = Path(tmp)
        _project(root, files, version=1, url=url)
        took = _apply(root)
        first = _size(root)
        _project(root, files, version=2, url=url)
        took2 = _apply(root)
        second = _size(root)
    label = "default history (10)" if history is None else f"history={history}"
    print(f"  {label}: first apply {first:,} bytes ({first / files:.0f}/resource, "
          f"{took:.1f}s); after changing every file {second:,} bytes "
          f"(+{second - first:,}: {(second - first) / files:.0f}/resource kept for the "
          f"snapshot, {took2:.1f}s)")
    return first, second


def main() -> int:
    """Measure, print, and fail when the first apply's state is over the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    print(f"SQLite state of {args.files:,} local files of 1 KB (goal: < {GOAL:,} bytes "
          "at 10,000)")
    first, _ = measure(args.files, history=None)
    measure(args.files, history=0)
    goal = GOAL * args.files / 10_000
    verdict = "OK" if first < goal else "OVER"
    print(f"  {verdict}: {first:,} bytes is {first / goal:.0%} of the goal")
    return 0 if first < goal else 1


if __name__ == "__main__":
    sys.exit(main())
