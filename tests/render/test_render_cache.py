"""The render cache: a hit equals a fresh render, and every kind of input invalidates it.

Each test counts the real renders behind ``RenderCache`` and compares what the
cache returns with an uncached render of the same inputs, so "hit" and "exact"
are both checked. Real project trees in tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import driftless
from driftless.model import UNKNOWN, DesiredStack
from driftless.model.policy import Policy
from driftless.providers import ProviderSet
from driftless.render import RenderOptions, load_project, render_stack
from driftless.render import cache as cache_mod
from driftless.render import project as project_mod
from driftless.render import stack as stack_mod
from driftless.render.cache import CACHE_DIR, RenderCache

STACK = """\
variables:
  greeting: {type: string, default: hello}
  who: {type: string, default: world}
  from_env: {type: string, default: env-default}
  from_file: {type: string, default: file-default}
  from_cli: {type: string, default: cli-default}
  up: {type: string, default: none}
resources:
  a:
    type: local:file
    properties:
      path: /tmp/driftless-cache-test/a
      content: "${var.greeting} ${var.who} ${var.from_env} ${var.from_file} ${var.from_cli}"
  b:
    type: local:file
    properties:
      path: /tmp/driftless-cache-test/b
      content: '${file("data.txt")}'
  c:
    type: local:file
    properties: {path: /tmp/driftless-cache-test/c, source: src.txt}
"""


def _project(root: Path) -> Path:
    (root / "stacks/app/overlays").mkdir(parents=True)
    (root / "environments").mkdir()
    (root / "driftless.yaml").write_text(
        "project: cached\nenvironments: [prod]\nstacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(STACK)
    (root / "stacks/app/overlays/prod.yaml").write_text("variables: {who: overlay-world}\n")
    (root / "environments/prod.yaml").write_text("variables: {greeting: hi}\n")
    (root / "stacks/app/data.txt").write_text("data one\n")
    (root / "stacks/app/src.txt").write_text("source one\n")
    (root / "stacks/app/other.txt").write_text("other\n")
    (root / "vars.yaml").write_text("from_file: file-one\n")
    return root


@dataclass
class Counted:
    """How many real project loads and stack renders ran behind the cache."""

    projects: int = 0
    stacks: int = 0
    seen: list[DesiredStack] = field(default_factory=list)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counted]:
    counts = Counted()

    def loading(*args: Any, **kwargs: Any) -> Any:
        counts.projects += 1
        return load_project(*args, **kwargs)

    def rendering(*args: Any, **kwargs: Any) -> Any:
        counts.stacks += 1
        return render_stack(*args, **kwargs)

    # the cache imports both where it misses (a hit imports neither module)
    monkeypatch.setattr(project_mod, "load_project", loading)
    monkeypatch.setattr(stack_mod, "render_stack", rendering)
    monkeypatch.delenv("DRIFTLESS_VAR_from_env", raising=False)
    yield counts


@dataclass
class Run:
    """One set of render inputs; ``render`` goes through the cache and checks it
    against an uncached render of the same inputs."""

    root: Path
    options: RenderOptions = field(default_factory=lambda: RenderOptions(env="prod"))
    policy: Policy | None = None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def render(self) -> DesiredStack:
        cache = RenderCache.for_project(self.root)
        assert cache is not None
        kinds = ProviderSet()
        project = cache.load_project(self.root, policy=self.policy)
        got = cache.render_stack(project, "app", self.options, stack_outputs=self.outputs,
                                 kinds=kinds)
        fresh = render_stack(load_project(self.root, policy=self.policy), "app", self.options,
                             stack_outputs=self.outputs, kinds=kinds)
        assert got == fresh
        assert [r.source for r in got.resources] == [r.source for r in fresh.resources]
        return got


def _content(stack: DesiredStack, name: str) -> Any:
    return next(r for r in stack.resources if r.id.name == name).properties


def test_an_unchanged_project_is_neither_loaded_nor_rendered_again(
        tmp_path: Path, counted: Counted) -> None:
    run = Run(_project(tmp_path))
    first = run.render()
    assert (counted.projects, counted.stacks) == (1, 1)
    again = run.render()
    assert (counted.projects, counted.stacks) == (1, 1)
    assert again == first and again.digest == first.digest
    assert _content(again, "a")["content"] == ("hi overlay-world env-default file-default "
                                               "cli-default")
    assert len(list((tmp_path / CACHE_DIR).glob("*.bin"))) == 2


def _edit(path: Path, text: str) -> Callable[[Run], None]:
    return lambda run: path.write_text(text)


CHANGES: dict[str, Callable[[Path], Callable[[Run], None]]] = {
    "stack file": lambda r: _edit(r / "stacks/app/stack.yaml",
                                  STACK.replace("cli-default", "cli-changed")),
    "overlay": lambda r: _edit(r / "stacks/app/overlays/prod.yaml",
                               "variables: {who: overlay-two}\n"),
    "environment file": lambda r: _edit(r / "environments/prod.yaml",
                                        "variables: {greeting: hello-env}\n"),
    "project file": lambda r: _edit(
        r / "driftless.yaml", "project: renamed\nenvironments: [prod]\nstacks: [stacks/app]\n"),
    "file read by file()": lambda r: _edit(r / "stacks/app/data.txt", "data two\n"),
    "var-file contents": lambda r: _edit(r / "vars.yaml", "from_file: file-two\n"),
}


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_a_changed_file_renders_again(tmp_path: Path, counted: Counted, what: str) -> None:
    root = _project(tmp_path)
    run = Run(root, RenderOptions(env="prod", var_files=(root / "vars.yaml",)))
    before = run.render()
    run.render()
    stacks = counted.stacks
    CHANGES[what](root)(run)
    after = run.render()
    assert counted.stacks == stacks + 1, f"a changed {what} did not render again"
    assert after.digest != before.digest or what == "project file"
    run.render()
    assert counted.stacks == stacks + 1  # and the new render is cached in its turn


def test_a_new_overlay_file_renders_again(tmp_path: Path, counted: Counted) -> None:
    """An input that did not exist (no overlay for this environment yet) counts too."""
    root = _project(tmp_path)
    (root / "stacks/app/overlays/prod.yaml").unlink()
    run = Run(root)
    before = run.render()
    (root / "stacks/app/overlays/prod.yaml").write_text("variables: {who: late}\n")
    after = run.render()
    assert counted.stacks == 2 and after.digest != before.digest


def test_a_source_path_that_now_leads_elsewhere_renders_again(
        tmp_path: Path, counted: Counted) -> None:
    """``source:`` is resolved through symlinks at render time: a swapped link is an input."""
    root = _project(tmp_path)
    run = Run(root)
    before = _content(run.render(), "c")["source"]
    src = root / "stacks/app/src.txt"
    src.unlink()
    src.symlink_to("other.txt")
    after = _content(run.render(), "c")["source"]
    assert counted.stacks == 2
    assert before.endswith("src.txt") and after.endswith("other.txt")


def test_an_environment_variable_renders_again(
        tmp_path: Path, counted: Counted, monkeypatch: pytest.MonkeyPatch) -> None:
    run = Run(_project(tmp_path))
    run.render()
    monkeypatch.setenv("DRIFTLESS_VAR_from_env", "env-one")
    assert "env-one" in _content(run.render(), "a")["content"]
    monkeypatch.setenv("DRIFTLESS_VAR_from_env", "env-two")
    assert "env-two" in _content(run.render(), "a")["content"]
    monkeypatch.setenv("DRIFTLESS_VAR_unrelated_but_same_prefix", "x")
    run.render()
    assert counted.stacks == 4
    monkeypatch.setenv("SOMETHING_ELSE", "x")  # not consulted by render
    run.render()
    assert counted.stacks == 4


def test_options_policy_outputs_and_version_render_again(
        tmp_path: Path, counted: Counted, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    run = Run(root)
    run.render()
    steps: list[Callable[[], None]] = [
        lambda: setattr(run, "options", RenderOptions(env="prod", variables={"from_cli": "v1"})),
        lambda: setattr(run, "options", RenderOptions(env="prod", variables={"from_cli": "v2"})),
        lambda: setattr(run, "options", RenderOptions(env=None, variables={"from_cli": "v2"})),
        lambda: setattr(run, "options", RenderOptions(
            env=None, variables={"from_cli": "v2"}, var_files=(root / "vars.yaml",))),
        lambda: setattr(run, "policy", Policy().widened(limits={"string_bytes": 1000})),
        lambda: setattr(run, "policy", Policy().widened(read_roots=[tmp_path / "_home"])),
        lambda: setattr(run, "outputs", {"upstream": {"url": "http://one"}}),
        lambda: setattr(run, "outputs", {"upstream": {"url": UNKNOWN}}),
        lambda: monkeypatch.setattr(driftless, "__version__", "99.0.0"),
    ]
    for i, step in enumerate(steps, start=2):
        step()
        run.render()
        assert counted.stacks == i, f"step {i - 1} did not render again"
        run.render()
        assert counted.stacks == i, f"step {i - 1} was not cached"


def test_a_policy_change_reloads_the_project(tmp_path: Path, counted: Counted) -> None:
    run = Run(_project(tmp_path))
    run.render()
    run.policy = Policy().widened(limits={"file_bytes": 100_000})
    run.render()
    assert counted.projects == 2


CANARY = "canary-8f3c1d-never-in-the-cache"


def test_a_stack_holding_a_secret_is_not_cached(
        tmp_path: Path, counted: Counted, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    text = STACK.replace("  up: {type: string, default: none}\n",
                         "  up: {type: string, default: none}\n"
                         "  token: {type: string, sensitive: true}\n")
    text += ("  d:\n    type: local:file\n    properties:\n"
             "      path: /tmp/driftless-cache-test/d\n      content: \"t=${var.token}\"\n")
    (root / "stacks/app/stack.yaml").write_text(text)
    monkeypatch.setenv("DRIFTLESS_VAR_token", CANARY)
    run = Run(root, RenderOptions(env="prod", variables={"from_cli": CANARY}))
    for _ in range(2):
        run.render()
    assert counted.stacks == 2  # rendered every time
    files = [p for p in (root / ".driftless").rglob("*") if p.is_file()]
    assert files  # the project entry is there, and it holds no secret either
    for path in files:
        data = path.read_bytes()
        assert CANARY.encode() not in data, path
        assert CANARY.encode().hex().encode() not in data, path


def test_a_secret_reference_is_not_cached(
        tmp_path: Path, counted: Counted, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    (root / "stacks/app/stack.yaml").write_text(
        STACK.replace('${file("data.txt")}', "${secret.env:CACHE_CANARY}"))
    monkeypatch.setenv("CACHE_CANARY", CANARY)
    run = Run(root)
    run.render()
    run.render()
    assert counted.stacks == 2
    for path in (root / ".driftless").rglob("*"):
        assert not path.is_file() or CANARY.encode() not in path.read_bytes()


REFERENCES = """\
variables:
  port: {type: integer, default: 8080}
  names: {type: map, default: {x: one, y: two}}
resources:
  a:
    type: local:file
    properties: {path: /tmp/driftless-cache-test/a, content: "a"}
  b:
    type: local:file
    count: 2
    properties:
      path: "/tmp/driftless-cache-test/b${count.index}"
      content: "${a.path}:${var.port}/${count.index}"
  c:
    type: local:file
    for_each: ${var.names}
    properties:
      path: "/tmp/driftless-cache-test/c-${each.key}"
      content: "${each.value} ${b[1].path}"
  d:
    type: local:file
    properties:
      path: /tmp/driftless-cache-test/d
      content: ${a.size}
      mode: "${a.mode}"
outputs:
  url: "http://${a.path}:${var.port}"
  up: ${stack.upstream.outputs.url}/${c["x"].path}
"""


def _with_references(root: Path, text: str = REFERENCES) -> Path:
    """The project with ``text`` as its stack, and the upstream stack it refers to."""
    (root / "stacks/upstream").mkdir()
    (root / "stacks/upstream/stack.yaml").write_text("outputs: {url: http://upstream}\n")
    (root / "driftless.yaml").write_text(
        "project: cached\nenvironments: [prod]\nstacks: [stacks/app, stacks/upstream]\n")
    (root / "stacks/app/stack.yaml").write_text(text)
    (root / "environments/prod.yaml").write_text("variables: {port: 9090}\n")
    (root / "stacks/app/overlays/prod.yaml").unlink()
    return root


def _attrs(rid: Any) -> dict[str, Any]:
    return {"path": f"/live/{rid.name}/{rid.index}", "size": 7, "mode": 420}


def _evaluated(stack: DesiredStack) -> Any:
    """Every deferred value evaluated against made-up attributes."""
    from driftless.model import resolve

    return ([resolve(dict(r.properties), _attrs) for r in stack.resources],
            resolve(dict(stack.outputs), _attrs))


def test_references_to_other_resources_are_cached_and_evaluate_the_same(
        tmp_path: Path, counted: Counted) -> None:
    root = _with_references(_project(tmp_path))
    run = Run(root, outputs={"upstream": {"url": "http://up"}})
    first = run.render()
    again = run.render()
    assert counted.stacks == 1 and again == first and again.digest == first.digest
    fresh = render_stack(load_project(root), "app", run.options, stack_outputs=run.outputs,
                         kinds=ProviderSet())
    assert _evaluated(again) == _evaluated(fresh)
    props, outputs = _evaluated(again)
    assert outputs == {"url": "http:///live/a/None:9090", "up": "http://up//live/c/x"}
    d = next(p for p in props if p["path"].endswith("/d"))
    assert d["content"] == 7 and d["mode"] == "420"  # unquoted stays a number, quoted is text


def test_a_reference_next_to_a_secret_is_not_cached(
        tmp_path: Path, counted: Counted, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    text = REFERENCES.replace("  port: {type: integer, default: 8080}\n",
                              "  port: {type: integer, default: 8080}\n"
                              "  token: {type: string, sensitive: true}\n")
    text = text.replace("content: ${a.size}", 'content: "${var.token} ${a.size}"')
    _with_references(root, text)
    monkeypatch.setenv("DRIFTLESS_VAR_token", CANARY)
    run = Run(root, outputs={"upstream": {"url": "http://up"}})
    run.render()
    run.render()
    assert counted.stacks == 2
    for path in (root / ".driftless").rglob("*"):
        assert not path.is_file() or CANARY.encode() not in path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "flipped", "empty", "directory"])
def test_a_damaged_or_planted_cache_file_is_ignored(
        tmp_path: Path, counted: Counted, damage: str) -> None:
    run = Run(_project(tmp_path))
    first = run.render()
    for entry in (tmp_path / CACHE_DIR).glob("*.bin"):
        data = entry.read_bytes()
        if damage == "directory":
            entry.unlink()
            entry.mkdir()
            continue
        entry.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(4096),
                           "flipped": data[:-1] + bytes([data[-1] ^ 1]),
                           "empty": b""}[damage])
    again = run.render()
    assert again == first
    assert (counted.projects, counted.stacks) == (2, 2)


def test_an_entry_sealed_with_another_key_is_ignored(
        tmp_path: Path, counted: Counted, monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository may ship a .driftless/cache of its own: without the operator's
    key its entries are never used."""
    run = Run(_project(tmp_path))
    run.render()
    monkeypatch.setenv("DRIFTLESS_DIGEST_KEY", "another-operator-key-0002")
    run.render()
    assert counted.stacks == 2


@pytest.mark.parametrize("linked", [".driftless", ".driftless/cache"])
def test_a_symlinked_cache_directory_is_not_written_through(
        tmp_path: Path, counted: Counted, linked: str) -> None:
    """A repository may hold .driftless or .driftless/cache as a link elsewhere."""
    root = _project(tmp_path / "p")
    (root / "driftless.yaml").write_text(  # state beside, so only the cache uses the link
        "project: cached\nstate: sqlite:///state.db\nenvironments: [prod]\n"
        "stacks: [stacks/app]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / linked).parent.mkdir(parents=True, exist_ok=True)
    (root / linked).symlink_to(elsewhere)
    run = Run(root)
    run.render()
    run.render()
    assert list(elsewhere.iterdir()) == []
    assert counted.stacks == 2


def test_old_entries_are_pruned(
        tmp_path: Path, counted: Counted, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new --var value each run makes a new entry; the directory does not grow forever."""
    monkeypatch.setattr(cache_mod, "MAX_ENTRIES", 3)
    run = Run(_project(tmp_path))
    for i in range(6):
        run.options = RenderOptions(env="prod", variables={"from_cli": f"build-{i}"})
        run.render()
    assert len(list((tmp_path / CACHE_DIR).glob("*.bin"))) == 3
    run.render()  # the newest is still there
    assert counted.stacks == 6


def test_the_operator_can_turn_the_cache_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    monkeypatch.setenv("DRIFTLESS_RENDER_CACHE", "off")
    assert RenderCache.for_project(root) is None
