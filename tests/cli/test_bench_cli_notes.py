"""bench/bench_cli.py says when its floor ran on a busy machine (the ratios then move)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cli", ROOT / "bench" / "bench_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_cli"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_best_keeps_the_slowest_wall_beside_the_fastest() -> None:
    bench = _bench()
    best = bench._best([bench.Run(0.30, 10.0, 0.2), bench.Run(0.21, 12.0, 0.25),
                        bench.Run(0.45, 11.0, 0.3)])
    assert (best.wall, best.slowest, best.rss_mb, best.cpu) == (0.21, 0.45, 12.0, 0.2)


def test_a_floor_whose_runs_were_far_apart_is_noted() -> None:
    bench = _bench()
    busy = bench.unsteady("first apply", 10000, bench.Run(0.30, 14.0, 0.3, 0.45))
    assert busy is not None
    assert "first apply at 10000" in busy and "0.300-0.450 s" in busy and "1.5x apart" in busy
    assert bench.unsteady("first apply", 10000, bench.Run(0.30, 14.0, 0.3, 0.33)) is None
    # a single run (--quick) has nothing to compare
    assert bench.unsteady("no-op apply", 1000, bench.Run(0.02, 14.0, 0.02)) is None
