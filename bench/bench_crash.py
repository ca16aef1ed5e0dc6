"""Kill -9 trials (issue 11): recovery leaves no wedged stack, temp file, orphan
process or untracked object behind.

A stack of ~200 local resources (directories, files, symlinks, commands, an
env file and a ``local:service`` running a tiny ``python -m http.server``)
goes through four operations: create (first apply), update-all (every file's
content, command trigger and the service's env change), destroy, and
replace (every file's ``path`` changes). Each trial starts the CLI operation
as a subprocess, SIGKILLs it at a uniform random moment within the
operation's measured duration, runs one recovery ``apply`` (``destroy`` for
the destroy trials) and checks:

- wedged: the recovery exits non-zero, or a following ``plan
  --detailed-exitcode`` (``--destroy`` after destroy) is not 0;
- stray temps: a ``*.tmp`` or ``*.lnk`` temp file under the target dir;
- orphans: a process naming the trial's service dir other than the service
  state records and its supervisor (after destroy: any);
- missing from state: a path under the target dir that no state resource names.

Run: python -m bench.bench_crash [--trials N] [--size N] [--ops create,update]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from driftless.state.sqlite import from_url

CLI = [sys.executable, "-m", "driftless"]
OPS = ("create", "update", "destroy", "replace")


@dataclass
class Counts:
    """One operation's tallies; ``failures`` keeps a line per bad trial."""

    trials: int = 0
    wedged: int = 0
    stray_temps: int = 0
    orphans: int = 0
    missing: int = 0
    failures: list[str] = field(default_factory=list)

    def bad(self) -> int:
        """Trials that broke any check."""
        return len(self.failures)


def free_port() -> int:
    """A TCP port nobody listens on now (the service binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resources(root: Path, size: int, *, version: int, moved: bool, port: int) -> dict[str, Any]:
    """The stack: ~``size`` resources of every kind, in version ``version``.

    ``moved`` renames every file (``path`` forces replacement).
    """
    out, n_dirs = root / "out", max(2, size // 20)
    n_links, n_cmds = max(1, size // 10), max(1, size // 13)
    n_files = max(1, size - n_dirs - n_links - n_cmds - 2)
    res: dict[str, Any] = {f"d{i}": {"type": "local:directory",
                                     "properties": {"path": str(out / f"d{i}"),
                                                    "make_parents": True}}
                           for i in range(n_dirs)}
    stem = "g" if moved else "f"
    for i in range(n_files):
        res[f"f{i}"] = {"type": "local:file", "depends_on": [f"d{i % n_dirs}"],
                        "properties": {"path": str(out / f"d{i % n_dirs}" / f"{stem}{i}.txt"),
                                       "content": f"file {i} version {version}\n" * 64}}
    for i in range(n_links):
        res[f"l{i}"] = {"type": "local:symlink", "depends_on": ["d0"],
                        "properties": {"path": str(out / "d0" / f"l{i}"),
                                       "target": f"target-{i}-{version}"}}
    for i in range(n_cmds):
        res[f"c{i}"] = {"type": "local:command",
                        "properties": {"command": f"echo {i} {version} > {root}/cmd/c{i}.out",
                                       "triggers": {"version": version}}}
    res["env"] = {"type": "local:env_file", "depends_on": ["d0"],
                  "properties": {"path": str(out / "d0" / "app.env"),
                                 "values": {"VERSION": str(version), "PORT": str(port)}}}
    res["web"] = {"type": "local:service", "properties": _service(root, port, version)}
    return res


def _service(root: Path, port: int, version: int) -> dict[str, Any]:
    """A tiny http server whose command line names the trial's service dir."""
    www = root / "svc" / "www"
    return {"command": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                        "--directory", str(www)],
            "env": {"VERSION": str(version)}, "state_dir": str(root / "svc"),
            "stop_timeout": 2,
            "health": {"http": {"url": f"http://127.0.0.1:{port}/"}, "grace_period": 10,
                       "interval": 0.1}}


def write_project(root: Path, res: dict[str, Any]) -> None:
    """A one-stack project ``main`` with SQLite state."""
    (root / "stacks" / "main").mkdir(parents=True, exist_ok=True)
    (root / "cmd").mkdir(exist_ok=True)
    (root / "svc" / "www").mkdir(parents=True, exist_ok=True)
    project = {"project": "crash", "state": "sqlite:///.driftless/state.db",
               "stacks": ["stacks/main"]}
    (root / "driftless.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    (root / "stacks" / "main" / "stack.yaml").write_text(
        yaml.safe_dump({"resources": res}, sort_keys=False))


def _env() -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("CI", None)
    return env


def cli(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the CLI to the end."""
    return subprocess.run([*CLI, "-C", str(root), *args], capture_output=True, text=True,
                          env=_env(), timeout=timeout, check=False)


def start(root: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start the CLI without waiting (its output is not needed)."""
    return subprocess.Popen([*CLI, "-C", str(root), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env())


def op_args(op: str) -> tuple[str, ...]:
    """The CLI arguments of an operation (and of its recovery)."""
    return ("destroy", "--auto-approve") if op == "destroy" else ("apply", "--auto-approve")


class Trial:
    """One kill -9 trial of ``op`` in its own directory."""

    def __init__(self, base: Path, op: str, number: int, size: int) -> None:
        self.root = base / f"{op}-{number}"
        self.op, self.size, self.port = op, size, free_port()

    def prepare(self) -> None:
        """The state the operation starts from (applied v1, except for create)."""
        write_project(self.root, self._res(version=1, moved=False))
        if self.op != "create":
            done = cli(self.root, "apply", "--auto-approve")
            if done.returncode != 0:
                raise RuntimeError(f"setup apply failed: {done.stdout}\n{done.stderr}")
        if self.op in ("update", "replace"):
            write_project(self.root, self._res(version=2, moved=self.op == "replace"))

    def _res(self, *, version: int, moved: bool) -> dict[str, Any]:
        return resources(self.root, self.size, version=version, moved=moved, port=self.port)

    def run_whole(self) -> float:
        """The operation's duration when not killed (seconds)."""
        t0 = time.monotonic()
        done = cli(self.root, *op_args(self.op))
        if done.returncode != 0:
            raise RuntimeError(f"{self.op} failed: {done.stdout}\n{done.stderr}")
        return time.monotonic() - t0

    def kill_at(self, delay: float) -> None:
        """Start the operation and SIGKILL it ``delay`` seconds in."""
        proc = start(self.root, *op_args(self.op))
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def check(self, counts: Counts) -> None:
        """Recover once, then tally every check that fails."""
        problems = []
        again = cli(self.root, *op_args(self.op))
        plan_args = ("plan", "--detailed-exitcode") + (("--destroy",) if self.op == "destroy"
                                                        else ())
        plan = cli(self.root, *plan_args) if again.returncode == 0 else None
        if again.returncode != 0 or plan is None or plan.returncode != 0:
            counts.wedged += 1
            text = again if plan is None else plan
            problems.append(f"wedged: {(text.stdout + text.stderr).strip()[-400:]}")
        temps = stray_temps(self.root / "out")
        if temps:
            counts.stray_temps += 1
            problems.append(f"stray temps: {temps[:3]}")
        state = self._state()
        orphans = orphan_pids(self.root / "svc", state)
        if orphans:
            counts.orphans += 1
            problems.append(f"orphans: {orphans}")
        missing = untracked(self.root / "out", state)
        if missing:
            counts.missing += 1
            problems.append(f"missing from state: {missing[:3]}")
        counts.trials += 1
        if problems:
            counts.failures.append(f"{self.root.name}: " + "; ".join(problems))

    def _state(self) -> dict[str, Any]:
        """Each resource's attributes, as state records them now."""
        backend = from_url("sqlite:///.driftless/state.db", self.root)
        try:
            snap = backend.read("main")
            return {str(rid): dict(st.attributes) for rid, st in snap.resources.items()}
        finally:
            backend.close()

    def close(self) -> None:
        """Stop what this trial started and remove its directory."""
        for pid in service_pids(self.root / "svc"):
            with _quiet():
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


class _quiet:
    """Ignore a process that already exited."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], ProcessLookupError)  # type: ignore[arg-type]


def stray_temps(out: Path) -> list[str]:
    """Temp files of the local writers under ``out``."""
    if not out.exists():
        return []
    return sorted(str(p) for p in out.rglob(".*") if p.name.endswith((".tmp", ".lnk")))


def untracked(out: Path, state: dict[str, Any]) -> list[str]:
    """Paths under ``out`` (besides temp files) that no state resource names."""
    if not out.exists():
        return []
    known = {a.get("path") for a in state.values()}
    return sorted(str(p) for p in out.rglob("*")
                  if str(p) not in known and not p.name.endswith((".tmp", ".lnk")))


def service_pids(svc: Path) -> list[int]:
    """Processes whose command line names ``svc`` (the trial's service dir)."""
    needle, pids = str(svc).encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def orphan_pids(svc: Path, state: dict[str, Any]) -> list[int]:
    """Service processes besides the one state records (and its supervisor)."""
    web = state.get("local:service/web")
    recorded = web.get("pid") if web else None
    if not isinstance(recorded, int):
        return service_pids(svc)
    allowed = {recorded, _parent(recorded)}
    return [p for p in service_pids(svc) if p not in allowed and _parent(p) != recorded]


def measure(base: Path, op: str, size: int) -> float:
    """One uncut run of ``op`` from its starting state, in seconds.

    It prints what an uncut run already leaves untracked, so a count in the
    trials that is not a crash effect shows as such.
    """
    trial = Trial(base, op, -1, size)
    try:
        trial.prepare()
        span = trial.run_whole()
        baseline = untracked(trial.root / "out", trial._state())
        if baseline:
            print(f"{op}: an uncut run already leaves {len(baseline)} paths untracked, "
                  f"e.g. {baseline[0]}", flush=True)
        return span
    finally:
        trial.close()


def run_trials(op: str, trials: int, *, size: int, seed: int, base: Path,
               duration: float | None = None) -> Counts:
    """``trials`` kill -9 trials of ``op``; the kill moment is uniform in its duration."""
    rng = random.Random(f"{seed}-{op}")
    span = duration if duration is not None else measure(base, op, size)
    counts = Counts()
    for number in range(trials):
        trial = Trial(base, op, number, size)
        try:
            trial.prepare()
            trial.kill_at(rng.uniform(0, span))
            trial.check(counts)
        finally:
            trial.close()
    return counts


def report(results: Iterable[tuple[str, float, Counts]]) -> None:
    """One line per operation, then each failing trial."""
    print(f"{'operation':<10} {'duration':>9} {'trials':>7} {'wedged':>7} {'temps':>6} "
          f"{'orphans':>8} {'missing':>8}")
    for op, span, c in results:
        print(f"{op:<10} {span:>8.2f}s {c.trials:>7} {c.wedged:>7} {c.stray_temps:>6} "
              f"{c.orphans:>8} {c.missing:>8}")
        for line in c.failures[:5]:
            print(f"  {line}")


def main(argv: list[str] | None = None) -> int:
    """Run the trials; exit 1 when any trial broke a check."""
    ap = argparse.ArgumentParser(prog="python -m bench.bench_crash")
    ap.add_argument("--trials", type=int, default=100, help="trials per operation")
    ap.add_argument("--size", type=int, default=200, help="resources in the stack")
    ap.add_argument("--ops", default=",".join(OPS), help="operations, comma-separated")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="driftless-crash-") as tmp:
        for op in args.ops.split(","):
            span = measure(Path(tmp), op, args.size)
            print(f"{op}: uncut run {span:.2f}s; {args.trials} trials", flush=True)
            counts = run_trials(op, args.trials, size=args.size, seed=args.seed,
                                base=Path(tmp), duration=span)
            results.append((op, span, counts))
    report(results)
    return 1 if any(c.bad() for _, _, c in results) else 0


if __name__ == "__main__":
    sys.exit(main())
