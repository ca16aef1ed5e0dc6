"""End-to-end CLI benchmark: whole ``driftless`` processes against a plain-Python floor.

Issue 12 measures what a user, CI or the agent's one-shot runs pay: process
start, imports, rendering the stack files, opening state, planning,
applying and printing. This times one whole ``driftless apply
--auto-approve`` process at a time on a generated project of N ``local:file``
resources (1 KB each), and in the same run a plain-Python *floor* process
doing the same work on disk:

- first apply: write N new files (temp file + rename each);
- no-op: stat, read and sha256 every file, compare with the wanted digest;
- changed-10: the same check, then rewrite the 10 files whose desired content
  changed (temp + rename).

Before each timed process, what earlier ones left dirty is written back
(``os.sync``, untimed), so each run pays for its own disk work only. Each is
the best of 3 (``--repeats``), for each size (``--sizes``,
default 1,000 and 10,000). Peak RSS and CPU time (user + system) are each
child's own, taken with ``os.wait4`` on that child (not the cumulative
RUSAGE_CHILDREN); CPU time is the steadier number on a loaded machine.
``driftless --version`` and ``--help`` are timed too, best of 5, against
``python -c pass``.

The project, its state and the files all live in one temporary directory
(``BENCH_DIR`` picks its parent, e.g. /dev/shm to leave the disk out).

Run: ``python -m bench.bench_cli [--sizes 1000,10000] [--quick] [--layout count|explicit]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SIZES = (1_000, 10_000)
REPEATS = 3
START_REPEATS = 5
BODY = ("driftless bench payload " * 43)[:1000]  # ~1 KB per file, with "{i} " in front
EDITED = 10

# The floor: what a plain script does for the same work. It is run as its own
# process with the same interpreter, so process start is in both columns.
FLOOR = r'''
import hashlib, os, sys
mode, root, n, edit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
body = sys.argv[5]
def want(i):
    tag = f"{i} {edit} " if edit and i < 10 else f"{i} "
    return (tag + body).encode()
def write(i, data):
    path = os.path.join(root, f"f{i}.txt")
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
if mode == "first":
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        write(i, want(i))
else:
    stale = []
    for i in range(n):
        path = os.path.join(root, f"f{i}.txt")
        os.stat(path)
        with open(path, "rb") as fh:
            have = hashlib.sha256(fh.read()).digest()
        data = want(i)
        if have != hashlib.sha256(data).digest():
            stale.append((i, data))
    for i, data in stale:
        write(i, data)
'''


@dataclass(frozen=True, slots=True)
class Run:
    """One child process: wall seconds, its own CPU seconds (user + system) and
    peak RSS in MB. CPU time is printed beside wall time because on a shared
    machine the wall time of a short process swings with the load."""

    wall: float
    rss_mb: float
    cpu: float = float("nan")
    slowest: float = float("nan")  # of the runs a best was taken from: how far apart they were


def _driftless() -> list[str]:
    """The installed ``driftless`` script next to this interpreter (else ``-m``)."""
    script = Path(sys.executable).parent / "driftless"
    return [str(script)] if script.exists() else [sys.executable, "-m", "driftless"]


def _env(home: Path) -> dict[str, str]:
    """The children's environment: a known digest key, no colour, and bytecode
    cached (in the temp dir, never the source tree) as an installed package has
    it, even where PYTHONDONTWRITEBYTECODE is set: compiling ~100 modules from
    source on every run is not what a user pays."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(HOME=str(home), NO_COLOR="1", PYTHONPYCACHEPREFIX=str(home / "pycache"),
               DRIFTLESS_DIGEST_KEY="driftless-bench-digest-key-0001")
    return env


def run_child(argv: Sequence[str], *, env: dict[str, str], log: Path, cwd: Path) -> Run:
    """Run one process to its end; its wall time and its own ru_maxrss.

    Output goes to ``log`` (a user's terminal or CI log; not a pipe nobody reads).
    What the runs before it left to write back is flushed first (``settle``), so the
    run pays for its own disk work only.
    """
    settle()
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{tail}")
    return Run(wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


@contextlib.contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A temporary directory for one benchmark's projects and files, under
    ``BENCH_DIR`` when set, removed at the end however the run ends."""
    base = Path(tempfile.mkdtemp(prefix=f"driftless-bench-{name}-",
                                 dir=os.environ.get("BENCH_DIR")))
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def settle() -> None:
    """Write back what earlier processes left dirty, outside any timed run: a file
    system commits its journal as a whole, so the first fsync of a run (a new state
    file's) would otherwise wait for the 10,000 files the floor wrote just before,
    and the floor would write beside the last run's writeback."""
    os.sync()


def _best(runs: Sequence[Run]) -> Run:
    """Fastest wall and CPU time; the highest peak RSS seen (memory is not luck); the
    slowest wall too, to tell how steady the machine was (``unsteady``)."""
    return Run(min(r.wall for r in runs), max(r.rss_mb for r in runs), min(r.cpu for r in runs),
               max(r.wall for r in runs))


UNSTEADY = 1.25
"""A floor whose slowest run took this many times its fastest ran on a busy disk or
machine: the ratios measured beside it move with that load, so the report says so."""


def unsteady(name: str, n: int | None, floor: Run) -> str | None:
    """A note when the floor's own runs were far apart (``UNSTEADY``), else None."""
    if not floor.slowest > floor.wall * UNSTEADY:
        return None
    size = f" at {n}" if n is not None else ""
    return (f"note: {name}{size}: the floor's runs took {floor.wall:.3f}-{floor.slowest:.3f} s "
            f"({floor.slowest / floor.wall:.1f}x apart): the disk or the machine was busy, "
            "and ratios taken then move with it; run again when it is quiet")


class Project:
    """A generated project: one stack of N local:file resources under ``root``."""

    def __init__(self, root: Path, n: int, *, layout: str) -> None:
        self.root, self.n, self.layout = root, n, layout
        self.files = root / "files"
        (root / "stacks" / "files").mkdir(parents=True)
        (root / "driftless.yaml").write_text(
            "project: bench\nstate: sqlite:///.driftless/state.db\nstacks:\n  - stacks/files\n")
        self.write_stack("")

    def write_stack(self, edit: str) -> None:
        """The stack file; ``edit`` (non-empty) changes the first 10 files' content."""
        path = self.root / "stacks" / "files" / "stack.yaml"
        path.write_text(self._count(edit) if self.layout == "count" else self._explicit(edit))

    def _count(self, edit: str) -> str:
        edits = "".join(f'      "{i}": "{i} {edit} "\n' for i in range(EDITED)) if edit else ""
        return (
            "variables:\n"
            f"  dir: {{type: string, default: {self.files}}}\n"
            f"  body: {{type: string, default: {BODY}}}\n"
            "  edits:\n    type: map\n    default:\n" + (edits or "      {}\n") +
            "resources:\n  f:\n    type: local:file\n"
            f"    count: {self.n}\n"
            "    properties:\n"
            '      path: "${var.dir}/f${count.index}.txt"\n'
            '      make_parents: true\n'
            '      content: "${lookup(var.edits, format(\\"%d\\", count.index), '
            'format(\\"%d \\", count.index))}${var.body}"\n'
        )

    def _explicit(self, edit: str) -> str:
        lines = ["variables:", f"  body: {{type: string, default: {BODY}}}", "resources:"]
        for i in range(self.n):
            tag = f"{i} {edit} " if edit and i < EDITED else f"{i} "
            lines += [f"  f{i}:", "    type: local:file", "    properties:",
                      f"      path: {self.files}/f{i}.txt",
                      "      make_parents: true",
                      f'      content: "{tag}${{var.body}}"']
        return "\n".join(lines) + "\n"


def _floor(mode: str, root: Path, n: int, edit: str, *, env: dict[str, str],
           script: Path, log: Path) -> Run:
    return run_child([sys.executable, str(script), mode, str(root), str(n), edit, BODY],
                     env=env, log=log, cwd=root.parent)


def bench_size(base: Path, n: int, *, repeats: int, layout: str,
               env: dict[str, str]) -> list[tuple[str, Run, Run]]:
    """(scenario, floor, driftless) for first apply, no-op and changed-10 at size n."""
    script, log = base / "floor.py", base / "out.log"
    script.write_text(FLOOR)
    apply = [*_driftless(), "apply", "--auto-approve"]
    firsts_f, firsts_d, project = [], [], None
    for rep in range(repeats):
        firsts_f.append(_floor("first", base / f"floor{n}-{rep}", n, "", env=env,
                               script=script, log=log))
        project = Project(base / f"project{n}-{rep}", n, layout=layout)
        firsts_d.append(run_child(apply, env=env, log=log, cwd=project.root))
        _check(project.files, n)
    assert project is not None
    floor_dir = base / f"floor{n}-{repeats - 1}"
    noop_f = [_floor("check", floor_dir, n, "", env=env, script=script, log=log)
              for _ in range(repeats)]
    noop_d = [run_child(apply, env=env, log=log, cwd=project.root) for _ in range(repeats)]
    changed_f, changed_d = [], []
    for rep in range(repeats):
        edit = f"edit{rep}"
        changed_f.append(_floor("check", floor_dir, n, edit, env=env, script=script, log=log))
        project.write_stack(edit)
        changed_d.append(run_child(apply, env=env, log=log, cwd=project.root))
        _check(project.files, n, edit=edit)
    return [("first apply", _best(firsts_f), _best(firsts_d)),
            ("no-op apply", _best(noop_f), _best(noop_d)),
            ("changed-10 apply", _best(changed_f), _best(changed_d))]


def _check(files: Path, n: int, *, edit: str = "") -> None:
    """The run really did the work: every file there, the edited ones edited."""
    if len(os.listdir(files)) != n:
        raise RuntimeError(f"expected {n} files in {files}, found {len(os.listdir(files))}")
    if edit and not (files / "f0.txt").read_text().startswith(f"0 {edit} "):
        raise RuntimeError(f"{files}/f0.txt was not changed to the edited content")


def bench_start(base: Path, *, env: dict[str, str], repeats: int) -> list[tuple[str, Run, Run]]:
    """``driftless --version`` and ``--help`` against ``python -c pass``."""
    log = base / "start.log"
    floor = _best([run_child([sys.executable, "-c", "pass"], env=env, log=log, cwd=base)
                   for _ in range(repeats)])
    rows = []
    for flag in ("--version", "--help"):
        try:
            runs = [run_child([*_driftless(), flag], env=env, log=log, cwd=base)
                    for _ in range(repeats)]
        except RuntimeError:
            rows.append((f"driftless {flag}", floor, Run(float("nan"), float("nan"))))
            continue
        rows.append((f"driftless {flag}", floor, _best(runs)))
    return rows


HEADER = (f"{'work':<18} {'N':>6}  {'floor s':>8} {'driftless s':>11} {'ratio':>6}  "
          f"{'floor cpu':>9} {'cpu':>6} {'ratio':>6}  {'floor MB':>8} {'driftless MB':>12}")


def print_row(name: str, n: int | None, floor: Run, mine: Run) -> None:
    """One measurement: wall seconds, ratio to the floor, CPU seconds and ratio, peak RSS."""
    ratio = mine.wall / floor.wall if floor.wall else float("nan")
    cpu_ratio = mine.cpu / floor.cpu if floor.cpu else float("nan")
    print(f"{name:<18} {n if n is not None else '':>6}  {floor.wall:8.3f} "
          f"{mine.wall:11.3f} {ratio:5.1f}x  {floor.cpu:9.3f} {mine.cpu:6.2f} {cpu_ratio:5.1f}x  "
          f"{floor.rss_mb:8.1f} {mine.rss_mb:12.1f}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, run every measurement in one temporary directory, print."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None,
                        help="comma-separated resource counts (default 1000,10000)")
    parser.add_argument("--quick", action="store_true",
                        help="1,000 files only, one run of each (a smoke run)")
    parser.add_argument("--repeats", type=int, default=None, help="best of N (default 3)")
    parser.add_argument("--layout", choices=("count", "explicit"), default="count",
                        help="one resource with count: N (default) or N resources written out")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [1_000] if args.quick else list(SIZES))
    repeats = args.repeats or (1 if args.quick else REPEATS)
    with scratch("cli") as base:
        (base / "home").mkdir()
        env = _env(base / "home")
        print(f"driftless CLI, whole processes, best of {repeats} ({args.layout} layout, "
              f"files in {base}); CPU is user + system; peak RSS per process")
        print(HEADER, flush=True)
        notes = []
        for name, f, d in bench_start(base, env=env, repeats=max(repeats, START_REPEATS)):
            print_row(name, None, f, d)
        for n in sizes:
            for name, f, d in bench_size(base, n, repeats=repeats, layout=args.layout, env=env):
                print_row(name, n, f, d)
                notes.append(unsteady(name, n, f))
        for note in filter(None, notes):
            print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
