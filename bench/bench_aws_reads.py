"""AWS read benchmark: plan (refresh) 1,000 S3 objects + 200 instances against moto.

Starts a moto server on loopback, applies the resources once through the
engine, then times a refreshing no-op plan with 1 worker and with the
default pool, and prints the speed-up (goal: at least 4x). Each plan reads
every resource live (head_object / describe_instances by id).
Run: python bench/bench_aws_reads.py [--objects N] [--instances N] [--workers N]
     [--rtt-ms MS]

moto answers on loopback in well under a millisecond of network time and
runs in Python on the same cores as the client, so the raw run is CPU-bound
and its speed-up is capped near the core count. Real AWS calls spend tens of
milliseconds on the wire; the second run puts a delaying TCP proxy with
``--rtt-ms`` (default 20, a typical in-region round trip) in front of moto
to model that. Both results are printed.
"""

from __future__ import annotations

import argparse
import inspect
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from driftless.engine import Engine
from driftless.model import DesiredStack, Resource, ResourceId
from driftless.providers import ProviderSet
from driftless.providers.aws import AwsProvider
from driftless.state import open_backend


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


class DelayProxy:
    """A TCP proxy that holds each client request ``rtt`` seconds: a slow network."""

    def __init__(self, target_port: int, rtt: float) -> None:
        self.target_port, self.rtt = target_port, rtt
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, self.rtt),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 0.0), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while data := src.recv(65536):
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def close(self) -> None:
        """Stop accepting connections."""
        self.sock.close()


def _stack(objects: int, instances: int, ami: str) -> DesiredStack:
    bucket = Resource(ResourceId("aws", "s3.Bucket", "data"), {"name": "bench-data"})
    objs = [Resource(ResourceId("aws", "s3.Object", "o", i),
                     {"bucket": "bench-data", "key": f"k/{i}.txt", "content": f"object {i}"},
                     depends_on=(bucket.id,)) for i in range(objects)]
    insts = [Resource(ResourceId("aws", "ec2.Instance", "w", i),
                      {"ami": ami, "instance_type": "t3.micro", "tags": {"Role": "bench"}})
             for i in range(instances)]
    return DesiredStack("bench", (bucket, *objs, *insts), f"bench-{objects}-{instances}")


def _providers(url: str, workers: int) -> ProviderSet:
    aws = AwsProvider()
    aws.configure({"region": "us-east-1", "endpoint_url": url, "max_workers": workers})
    ps = ProviderSet()
    ps.add(aws)
    return ps


def _timed_plan(url: str, state_url: str, root: Path, desired: DesiredStack,
                workers: int) -> float:
    ps = _providers(url, workers)
    engine = Engine(providers=ps, backend=open_backend(state_url, root=root), workers=workers)
    start = time.perf_counter()
    plan = engine.plan(desired)
    took = time.perf_counter() - start
    ps.close()
    if plan.has_changes():
        raise SystemExit(f"expected a no-op plan, got {plan.summary_line()}")
    return took


def _compare(label: str, url: str, state_url: str, root: Path, desired: DesiredStack,
             workers: int) -> None:
    one = _timed_plan(url, state_url, root, desired, 1)
    many = _timed_plan(url, state_url, root, desired, workers)
    n = len(desired.resources)
    print(f"[{label}] plan of {n} resources, 1 worker: {one:6.2f}s ({n / one:5.0f} reads/s); "
          f"{workers} workers: {many:6.2f}s ({n / many:5.0f} reads/s)")
    print(f"[{label}] speed-up: {one / many:.1f}x (goal >= 4x) on {os.cpu_count()} cores")


def main() -> None:
    """Seed, then time one-at-a-time reads against the default pool."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=200)
    default_workers = inspect.signature(Engine).parameters["workers"].default
    ap.add_argument("--workers", type=int, default=default_workers)
    ap.add_argument("--rtt-ms", type=float, default=20.0)
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    proc, url = _start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root, state_url = Path(tmp), "sqlite:///state.db"
            ami = str(_providers(url, 1).get("aws").lookup("ec2.ami", {"owners": ["amazon"]})
                      [0]["id"])
            desired = _stack(args.objects, args.instances, ami)
            seed = Engine(providers=_providers(url, 16),
                          backend=open_backend(state_url, root=root), workers=16)
            start = time.perf_counter()
            report = seed.apply(seed.plan(desired), desired)
            print(f"seeded {len(desired.resources)} resources in "
                  f"{time.perf_counter() - start:.1f}s (ok={report.ok})")
            _compare("loopback moto", url, state_url, root, desired, args.workers)
            if args.rtt_ms > 0:
                proxy = DelayProxy(int(url.rsplit(":", 1)[1]), args.rtt_ms / 1000)
                _compare(f"moto behind {args.rtt_ms:g} ms RTT", proxy.url, state_url, root,
                         desired, args.workers)
                proxy.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
