"""Paired A/B of two driftless source trees: which one applies faster, and by how much.

A single run of each says little here: on a shared machine the same first apply
of 10,000 files takes 0.65 s one minute and 0.9 s the next. This runs the two
versions in turn, in a random order within each pair, each in a fresh project
(``bench_cli.Project``), and compares the per-pair differences, which the
machine's drift mostly cancels out of. It prints each side's fastest and median
wall time and the median and mean difference (second minus first) with its
standard error; a difference within about two standard errors of zero is noise.

Each tree is a ``src`` directory (``git archive REV src | tar -x -C DIR
--strip-components=1`` gives one); the interpreter is this one, so both run with
the same libraries. Scenarios: ``first`` (a first apply), ``noop`` (an apply with
nothing to do), ``changed`` (10 files changed). Projects live under
``BENCH_DIR`` (default: the system's temp directory) and are removed at the end
(``bench_cli.scratch``).

When even pairs drift too much (a machine whose speed swings several-fold from one
minute to the next), ``--instructions`` counts instead: each tree's apply runs once
under valgrind's callgrind (after a run that fills the bytecode caches), and the
report gives the instructions the ``driftless`` process itself executed, and each
tree's change from the first. A count does not move with the load (run to run it
varies by about 1%: how far the helper processes are behind changes what the
apply does itself). It leaves out the forked children and helper processes, and
the kernel's work (the file writes themselves); and valgrind runs without the
CPU's SHA extensions, so hashing counts for far more than its real cost. It
compares trees; it is not a time.

Run: ``python -m bench.bench_ab OLD_SRC NEW_SRC [--size 10000] [--pairs 16]
[--scenario first] [--instructions]``
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.bench_cli import Project, scratch, settle

SCENARIOS = ("first", "noop", "changed")


def _env(tree: Path, home: Path) -> dict[str, str]:
    """A child's environment: ``tree`` first on the path, its own bytecode cache."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPATH=str(tree), PYTHONPYCACHEPREFIX=str(home / "pycache"),
               HOME=str(home), NO_COLOR="1",
               DRIFTLESS_DIGEST_KEY="driftless-bench-digest-key-0001")
    return env


def _apply(project: Project, env: dict[str, str]) -> float:
    """One ``driftless apply --auto-approve`` process: its wall seconds."""
    settle()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "driftless", "apply", "--auto-approve"],
                          cwd=project.root, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"apply in {project.root} exited {done.returncode}:\n"
                           f"{done.stderr.decode(errors='replace')[-2000:]}")
    return wall


def _one(scenario: str, project: Project, env: dict[str, str], turn: int) -> float:
    """Time ``scenario`` in ``project`` (made fresh for a first apply)."""
    if scenario == "first":
        return _apply(project, env)
    if scenario == "changed":
        project.write_stack(f"edit{turn}")
    return _apply(project, env)


def run_pairs(trees: Sequence[Path], *, scenario: str, size: int, pairs: int,
              base: Path, seed: int | None = None) -> list[list[float]]:
    """Wall seconds of each tree's runs, pair by pair (``[tree][pair]``)."""
    rng = random.Random(seed)
    homes = [base / f"home{i}" for i in range(len(trees))]
    for home in homes:
        home.mkdir(parents=True, exist_ok=True)
    envs = [_env(tree, home) for tree, home in zip(trees, homes, strict=True)]
    steady = [None if scenario == "first" else
              Project(base / f"steady{i}", size, layout="count") for i in range(len(trees))]
    for i, project in enumerate(steady):
        if project is not None:
            _apply(project, envs[i])  # the first apply that a no-op or change follows
    walls: list[list[float]] = [[] for _ in trees]
    for turn in range(pairs):
        order = list(range(len(trees)))
        rng.shuffle(order)
        for i in order:
            project = steady[i] or Project(base / f"p{i}-{turn}", size, layout="count")
            walls[i].append(_one(scenario, project, envs[i], turn))
    return walls


def count_instructions(trees: Sequence[Path], *, scenario: str, size: int,
                       base: Path) -> list[int]:
    """Instructions of each tree's ``driftless apply`` process under callgrind, after
    an apply that fills that tree's bytecode and record caches."""
    counts = []
    for i, tree in enumerate(trees):
        home = base / f"home{i}"
        home.mkdir(parents=True, exist_ok=True)
        env = _env(tree, home)
        _apply(Project(base / f"warm{i}", size, layout="count"), env)
        project = Project(base / f"counted{i}", size, layout="count")
        if scenario != "first":
            _apply(project, env)
            if scenario == "changed":
                project.write_stack("edit")
        counts.append(_counted(project, env, base / f"callgrind{i}"))
    return counts


def _counted(project: Project, env: dict[str, str], out: Path) -> int:
    """One apply under callgrind: the instructions of its own process (valgrind keeps
    the pid it is started with, so that process's file is named by it)."""
    out.mkdir()
    settle()
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--trace-children=no",
         f"--callgrind-out-file={out}/callgrind.%p", sys.executable, "-m", "driftless",
         "apply", "--auto-approve"],
        cwd=project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"apply under callgrind in {project.root} exited "
                           f"{proc.returncode}:\n{err.decode(errors='replace')[-2000:]}")
    for line in (out / f"callgrind.{proc.pid}").read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"{out}/callgrind.{proc.pid} holds no summary line")


def report_counts(trees: Sequence[Path], counts: Sequence[int]) -> list[str]:
    """Lines: each tree's instructions, and its change from the first tree's."""
    lines = []
    for tree, count in zip(trees, counts, strict=True):
        line = f"{tree!s:40s} {count / 1e6:9,.0f} M instructions"
        if lines:
            line += f"  vs first: {(count / counts[0] - 1) * 100:+.1f}%"
        lines.append(line)
    return lines


def report(trees: Sequence[Path], walls: list[list[float]]) -> list[str]:
    """Lines: each tree's fastest and median, and its paired difference to the first."""
    lines = []
    for i, tree in enumerate(trees):
        w = walls[i]
        line = (f"{tree!s:40s} fastest {min(w) * 1000:6.0f} ms  "
                f"median {statistics.median(w) * 1000:6.0f} ms")
        if i:
            diffs = [(b - a) * 1000 for a, b in zip(walls[0], w, strict=True)]
            error = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            line += (f"  vs first: median {statistics.median(diffs):+5.0f} ms, "
                     f"mean {statistics.mean(diffs):+5.0f} ± {error:.0f} ms")
        lines.append(line)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, run the pairs in a temporary directory, print the report."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", type=Path, help="src directories, first is the base")
    parser.add_argument("--size", type=int, default=10_000, help="files (default 10000)")
    parser.add_argument("--pairs", type=int, default=16, help="runs of each tree (default 16)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="first")
    parser.add_argument("--instructions", action="store_true",
                        help="count each tree's instructions under callgrind, once")
    args = parser.parse_args(argv)
    trees = [tree.resolve() for tree in args.trees]
    for tree in trees:
        if not (tree / "driftless" / "__init__.py").exists():
            parser.error(f"{tree} is not a src directory holding driftless/")
    if args.instructions:
        if shutil.which("valgrind") is None:
            parser.error("--instructions needs valgrind (apt-get install valgrind)")
        with scratch("ab") as base:
            counts = count_instructions(trees, scenario=args.scenario, size=args.size,
                                        base=base)
        print(f"{args.scenario} apply of {args.size} files, the apply process's own "
              "instructions (callgrind)")
        for line in report_counts(trees, counts):
            print(line)
        return 0
    with scratch("ab") as base:
        walls = run_pairs(trees, scenario=args.scenario, size=args.size, pairs=args.pairs,
                          base=base)
        print(f"{args.scenario} apply of {args.size} files, {args.pairs} pairs, "
              f"in {base.parent}")
    for line in report(trees, walls):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
