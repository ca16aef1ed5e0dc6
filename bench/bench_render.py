"""Render 10,000 resources through two overlay layers and print the time.

Run from the repo root: ``python -m bench.bench_render`` (or run the file).
The goal (issue 3) is under 2 s on the project's 2-core machine. The
project is generated into a temporary directory; the render is cold (a
fresh project, nothing cached), then warm (the same project, files cached).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from driftless.render import RenderOptions, load_project, render_stack

N = 10_000
GOAL = 2.0


def _stack_yaml(n: int) -> str:
    lines = [
        "variables:",
        "  greeting: {type: string, default: hello}",
        "  mode: {type: string, default: '0644'}",
        "resources:",
    ]
    for i in range(n):
        lines += [
            f"  r{i}:",
            "    type: local:file",
            "    properties:",
            f"      path: /srv/bench/r{i}.txt",
            f'      content: "${{var.greeting}} from r{i}"',
            "      mode: ${var.mode}",
        ]
    return "\n".join(lines) + "\n"


def _variant_yaml(n: int) -> str:
    lines = ["variables: {greeting: hi}", "patches:"]
    for i in range(0, n, 10):
        lines += [f"  - target: r{i}", "    merge: {properties: {mode: '0600'}}"]
    return "\n".join(lines) + "\n"


def _env_yaml(n: int) -> str:
    lines = ["extends: variant", "name_prefix: prod-", "patches:"]
    for i in range(0, n, 100):
        lines += [f"  - target: r{i}",
                  "    ops: [{op: replace, path: /properties/path, value: /srv/prod.txt}]"]
    return "\n".join(lines) + "\n"


def make_project(root: Path, n: int = N) -> Path:
    """Write the benchmark project under ``root``; returns its directory."""
    (root / "stacks/big/overlays").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: bench\nenvironments: [prod]\n"
                                         "stacks: [stacks/big]\n")
    (root / "stacks/big/stack.yaml").write_text(_stack_yaml(n))
    (root / "stacks/big/overlays/variant.yaml").write_text(_variant_yaml(n))
    (root / "stacks/big/overlays/prod.yaml").write_text(_env_yaml(n))
    return root


def main() -> int:
    """Time a cold and a warm render; exit 1 when the cold one misses the goal."""
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp))
        options = RenderOptions(env="prod", environ={})
        start = time.perf_counter()
        project = load_project(root)
        desired = render_stack(project, "big", options)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        again = render_stack(project, "big", options)
        warm = time.perf_counter() - start
    assert desired.digest == again.digest
    print(f"render: {len(desired.resources)} resources through 2 overlay layers: "
          f"cold {cold:.2f}s, warm {warm:.2f}s (goal < {GOAL:.0f}s cold)")
    return 0 if cold < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
