"""Render 10,000 resources through two overlay layers and print the time.

Run from the repo root: ``python -m bench.bench_render`` (or run the file).
The goal (issue 3) is under 2 s on the project's 2-core machine. The
project is generated into a temporary directory; the render is cold (a
fresh project, nothing cached), then warm (the same project, files cached).

It also times the render of one ``local:file`` resource with ``count: 10000``
and two templates per instance (the project ``bench_cli`` applies), as a
command does it (the kinds of the installed providers, render cache off),
best of 3, in CPU time: compiling those templates once per resource is what
keeps it short (issue 12).

``--against REV`` also times the code of git revision REV (checked out into a
temporary worktree) on the same project, best of 3 each, and prints the
ratios: the hardening of issue 9 must not cost more than 10 %.
"""

from __future__ import annotations

import json
import os
import subprocess
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


def measure(root: Path) -> tuple[float, float, int]:
    """Cold and warm render times of the project at ``root``, and its resource count."""
    options = RenderOptions(env="prod", environ={})
    start = time.perf_counter()
    project = load_project(root)
    desired = render_stack(project, "big", options)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    again = render_stack(project, "big", options)
    warm = time.perf_counter() - start
    assert desired.digest == again.digest
    return cold, warm, len(desired.resources)


def _count_stack_yaml(files: Path, n: int) -> str:
    """The stack ``bench_cli`` generates: one resource, ``count: n``, two templates."""
    body = ("driftless bench payload " * 43)[:1000]
    return (
        "variables:\n"
        f"  dir: {{type: string, default: {files}}}\n"
        f"  body: {{type: string, default: {body}}}\n"
        "  edits: {type: map, default: {}}\n"
        "resources:\n  f:\n    type: local:file\n"
        f"    count: {n}\n"
        "    properties:\n"
        '      path: "${var.dir}/f${count.index}.txt"\n'
        "      make_parents: true\n"
        '      content: "${lookup(var.edits, format(\\"%d\\", count.index), '
        'format(\\"%d \\", count.index))}${var.body}"\n'
    )


def make_count_project(root: Path, n: int = N) -> Path:
    """Write the count benchmark project under ``root``; returns its directory."""
    (root / "stacks/files").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: bench\nstacks: [stacks/files]\n")
    (root / "stacks/files/stack.yaml").write_text(_count_stack_yaml(root / "files", n))
    return root


def measure_count(root: Path, runs: int = 3) -> tuple[float, int]:
    """Best CPU time of ``runs`` renders of the count project, and its resource count."""
    from driftless.providers import ProviderSet

    options = RenderOptions(environ={})
    project = load_project(root)
    kinds = ProviderSet({})
    render_stack(project, "files", options, kinds=kinds)  # imports, file reads, models
    best, count = float("inf"), 0
    for _ in range(runs):
        start = time.process_time()
        desired = render_stack(project, "files", options, kinds=kinds)
        best = min(best, time.process_time() - start)
        count = len(desired.resources)
    return best, count


def _count_in_child() -> tuple[float, int]:
    """``measure_count`` in a fresh process: the heap the renders above left behind
    would make the collector's passes, not the render, the difference."""
    here = str(Path(__file__).resolve().parent)
    code = (f"import json, sys, tempfile; sys.path.insert(0, {here!r}); import bench_render as b; "
            "from pathlib import Path; t = tempfile.TemporaryDirectory(); "
            "print(json.dumps(b.measure_count(b.make_count_project(Path(t.name)))))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    cpu, count = json.loads(out)
    return float(cpu), int(count)


def _best_of(src: Path, root: Path, runs: int = 3) -> tuple[float, float]:
    """Best cold and warm times of ``runs`` fresh processes importing driftless from ``src``."""
    code = ("import json, sys; sys.path.insert(0, 'bench'); import bench_render as b; "
            "from pathlib import Path; print(json.dumps(b.measure(Path(sys.argv[1]))))")
    env = {**os.environ, "PYTHONPATH": str(src)}
    times = [json.loads(subprocess.run([sys.executable, "-c", code, str(root)], env=env,
                                       check=True, capture_output=True, text=True).stdout)
             for _ in range(runs)]
    return min(t[0] for t in times), min(t[1] for t in times)


def against(rev: str) -> None:
    """Print this tree's render times as ratios to revision ``rev``'s."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(base), rev], check=True)
        try:
            root = make_project(Path(tmp) / "project")
            old = _best_of(base / "src", root)
            new = _best_of(Path("src").resolve(), root)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], check=False)
    for label, a, b in (("cold", old[0], new[0]), ("warm", old[1], new[1])):
        print(f"render {label}: {rev[:7]} {a:.2f}s, this tree {b:.2f}s, ratio {b / a:.2f}x "
              "(goal <= 1.10x)")


def main() -> int:
    """Time a cold and a warm render; exit 1 when the cold one misses the goal."""
    with tempfile.TemporaryDirectory() as tmp:
        cold, warm, count = measure(make_project(Path(tmp)))
    print(f"render: {count} resources through 2 overlay layers: "
          f"cold {cold:.2f}s, warm {warm:.2f}s (goal < {GOAL:.0f}s cold)")
    cpu, instances = _count_in_child()
    print(f"render count: {instances} instances of one resource, two templates each: "
          f"{cpu:.3f}s CPU (best of 3, render cache off)")
    if "--against" in sys.argv:
        against(sys.argv[sys.argv.index("--against") + 1])
    return 0 if cold < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
