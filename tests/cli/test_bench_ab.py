"""bench/bench_ab.py: paired runs of two source trees, each apply a real process."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


@pytest.fixture(name="bench_ab")
def _bench_ab(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``bench.bench_ab`` as ``python -m`` from the project root finds it."""
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("bench.bench_ab")


@pytest.mark.parametrize("scenario", ["first", "changed"])
def test_pairs_run_each_tree_in_turn_and_report_the_difference(
        tmp_path: Path, scenario: str, bench_ab: ModuleType) -> None:
    trees = [SRC, SRC]
    walls = bench_ab.run_pairs(trees, scenario=scenario, size=20, pairs=2, base=tmp_path,
                               seed=1)
    assert [len(w) for w in walls] == [2, 2] and all(t > 0 for w in walls for t in w)
    lines = bench_ab.report(trees, walls)
    assert len(lines) == 2 and "vs first" not in lines[0] and "vs first: median" in lines[1]
    if scenario == "first":  # a fresh project per run, every file written
        assert len(list((tmp_path / "p0-1" / "files").iterdir())) == 20
    else:  # the same project, edited: its first file holds the last edit
        assert (tmp_path / "steady1" / "files" / "f0.txt").read_text().startswith("0 edit1 ")


def test_a_directory_without_driftless_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bench_ab: ModuleType) -> None:
    with pytest.raises(SystemExit) as done:
        bench_ab.main([str(SRC), str(tmp_path)])
    assert done.value.code == 2
    assert "is not a src directory holding driftless/" in capsys.readouterr().err


def test_instructions_are_counted_for_the_apply_process_itself(
        tmp_path: Path, bench_ab: ModuleType) -> None:
    """Under callgrind, the same tree twice: counts of a whole apply (at least the
    interpreter's start), within a few percent of each other."""
    trees = [SRC, SRC]
    counts = bench_ab.count_instructions(trees, scenario="first", size=5, base=tmp_path)
    assert all(count > 100_000_000 for count in counts)
    assert 0.95 < counts[1] / counts[0] < 1.05
    assert len(list((tmp_path / "counted1" / "files").iterdir())) == 5  # it really applied
    lines = bench_ab.report_counts(trees, counts)
    assert "M instructions" in lines[0] and "vs first" not in lines[0]
    assert "vs first: " in lines[1] and lines[1].endswith("%")
