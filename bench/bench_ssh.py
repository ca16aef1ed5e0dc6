"""SSH benchmark: a no-op plan of 20 hosts x 100 files, in parallel and one host at a time.

Starts 20 real sshd servers on loopback ports (tests/ssh/sshd_servers.py),
applies 100 ``local:file`` resources to each through the ssh provider, then
times no-op plans through the engine: with the engine's pool (hosts read in
parallel) and with one worker (every read in turn), each with the planner's
prefetch (one ``lstat_many`` round trip per host, all hosts at once) and
without it (one round trip per file). Beside them: the floor
(one ``lstat_many`` round trip per host through the same connections, in
parallel) and, when it can be installed into the bench's own virtualenv,
pyinfra's ``@ssh`` connector running ``files.put`` of the same 100 files per
host a second time (its no-op). Goal: a no-op costs <= 1 ms per file
amortized. Run: python -m bench.bench_ssh [--hosts N] [--files N] [--no-pyinfra]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from driftless.engine import Engine
from driftless.model import DesiredStack, Resource, ResourceId
from driftless.providers import ProviderSet
from driftless.providers.ssh import SshProvider
from driftless.providers.ssh.host import SshHost
from driftless.providers.ssh.target import parse_target
from driftless.state.sqlite import from_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "ssh"))
from sshd_servers import Sshd, keygen, write_known_hosts

PYINFRA_VENV = Path(os.environ.get("BENCH_PYINFRA_VENV",
                                   Path.home() / ".cache" / "driftless-bench" / "pyinfra"))
PYINFRA_TIMEOUT = 900.0


def _desired(servers: list[Sshd], out: Path, n: int) -> DesiredStack:
    res = tuple(
        Resource(ResourceId("ssh", "file", f"f{i}.h{h}"),
                 {"path": str(out / f"h{h}" / f"f{i}.txt"), "content": f"line {i}\n" * 4,
                  "ssh_target": s.url})
        for h, s in enumerate(servers) for i in range(n))
    return DesiredStack("bench", res, f"digest-{len(res)}")


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def _engine(base: Path, provider: SshProvider, workers: int) -> Engine:
    providers = ProviderSet()
    providers.add(provider)
    return Engine(providers=providers, backend=from_url("sqlite:///state.db", base),
                  workers=workers)


def _floor(provider: SshProvider, servers: list[Sshd], out: Path, n: int) -> float:
    """One lstat_many round trip per host, all hosts at once."""
    hosts = [SshHost(provider.transport().connection(parse_target(s.url))) for s in servers]
    paths = [[str(out / f"h{h}" / f"f{i}.txt") for i in range(n)] for h in range(len(servers))]
    with ThreadPoolExecutor(len(hosts)) as pool:
        start = time.perf_counter()
        found = list(pool.map(lambda hp: hp[0].lstat_many(hp[1]), zip(hosts, paths,
                                                                     strict=True)))
        took = time.perf_counter() - start
    assert all(all(st is not None for st in f) for f in found)
    return took


def driftless_numbers(servers: list[Sshd], base: Path, key: Path, n: int) -> dict[str, float]:
    out = base / "out"
    for h in range(len(servers)):
        (out / f"h{h}").mkdir(parents=True)
    provider = SshProvider()
    provider.configure({"identity": str(key), "known_hosts": [str(base / "known_hosts")],
                        "parallel": 64})
    desired = _desired(servers, out, n)
    eng = _engine(base, provider, workers=len(servers))
    first = _timed(lambda: eng.apply(eng.plan(desired), desired))
    parallel = min(_timed(lambda: eng.plan(desired)) for _ in range(3))
    plan = eng.plan(desired)
    assert not plan.pending(), [str(c.id) for c in plan.pending()][:5]
    sequential = min(_timed(lambda: _engine(base, provider, workers=1).plan(desired))
                     for _ in range(2))
    floor = min(_floor(provider, servers, out, n) for _ in range(3))
    # without the planner's prefetch hook: one round trip per file
    provider.prefetch = lambda resources: None  # type: ignore[method-assign]
    unbatched = min(_timed(lambda: eng.plan(desired)) for _ in range(2))
    unbatched_seq = _timed(lambda: _engine(base, provider, workers=1).plan(desired))
    provider.close()
    return {"first_apply": first, "noop_parallel": parallel, "noop_sequential": sequential,
            "noop_par_unbatched": unbatched, "noop_seq_unbatched": unbatched_seq,
            "floor_lstat_many": floor}


def _pyinfra_bin() -> Path | None:
    """pyinfra in the bench's own virtualenv, installed there on first use (None: not
    installable here)."""
    exe = PYINFRA_VENV / "bin" / "pyinfra"
    if exe.exists():
        return exe
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PYINFRA_VENV)], check=True,
                       capture_output=True)
        subprocess.run([str(PYINFRA_VENV / "bin" / "pip"), "install", "-q", "pyinfra"],
                       check=True, capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"pyinfra: not installed ({exc})")
        return None
    return exe if exe.exists() else None


def pyinfra_numbers(servers: list[Sshd], base: Path, key: Path, n: int) -> dict[str, float]:
    exe = _pyinfra_bin()
    if exe is None:
        return {}
    src, out = base / "pyinfra-src", base / "pyinfra-out"
    src.mkdir()
    for i in range(n):
        (src / f"f{i}.txt").write_text(f"line {i}\n" * 4)
    hosts = ",\n".join(
        f'    ("127.0.0.1", {{"ssh_port": {s.port}, "ssh_user": "root", "ssh_key": "{key}", '
        f'"ssh_known_hosts_file": "{base / "known_hosts"}", "ssh_strict_host_key_checking": '
        f'"yes", "out": "{out}/h{h}"}})' for h, s in enumerate(servers))
    (base / "inventory.py").write_text(f"hosts = [\n{hosts},\n]\n")
    (base / "deploy.py").write_text(
        "from pyinfra import host\nfrom pyinfra.operations import files\n"
        f"files.directory(path=host.data.out)\n"
        f"for i in range({n}):\n"
        f"    files.put(src=f'{src}/f{{i}}.txt', dest=f'{{host.data.out}}/f{{i}}.txt')\n")
    cmd = [str(exe), "-y", "--parallel", str(len(servers)), str(base / "inventory.py"),
           str(base / "deploy.py")]
    first = _timed(lambda: subprocess.run(cmd, check=True, capture_output=True,
                                          timeout=PYINFRA_TIMEOUT))
    noop = _timed(lambda: subprocess.run(cmd, check=True, capture_output=True,
                                         timeout=PYINFRA_TIMEOUT))
    return {"pyinfra_first": first, "pyinfra_noop": noop}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--no-pyinfra", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        key = base / "client_key"
        keygen(key)
        servers = [Sshd(base / f"sshd{h}", key) for h in range(args.hosts)]
        try:
            for s in servers:
                s.start()
            write_known_hosts(base / "known_hosts", servers)
            results = driftless_numbers(servers, base, key, args.files)
            if not args.no_pyinfra:
                try:
                    results.update(pyinfra_numbers(servers, base, key, args.files))
                except subprocess.SubprocessError as exc:
                    print(f"pyinfra failed: {exc}")
        finally:
            for s in servers:
                s.stop()
    total = args.hosts * args.files
    print(f"{args.hosts} sshd hosts x {args.files} files = {total} files")
    for name, secs in results.items():
        print(f"  {name:18} {secs:8.3f} s   {secs / total * 1000:7.3f} ms/file")
    ms = results["noop_parallel"] / total * 1000
    print(f"goal: no-op <= 1 ms per file amortized: {'met' if ms <= 1 else 'NOT met'} "
          f"({ms:.3f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
