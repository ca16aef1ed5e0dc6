"""Cache writes in a forked child (``model.background``): written by a real child
and seen once waited for, inline whenever forking is not safe, and never a
failure, a partial file or a zombie left to the parent."""

from __future__ import annotations

import _thread
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from driftless.model import ResourceId, ResourceState, StateSnapshot
from driftless.model import background as bg
from driftless.model.filemap import write_private
from driftless.model.stack import DIGEST_SIZE, resource_digests
from driftless.render import RenderOptions
from driftless.render import cache as cache_mod
from driftless.render.cache import CACHE_DIR, RenderCache
from driftless.state.sqlite import from_url


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``detaching()`` in a test process: the thread gate passes even under
    pytest-xdist, whose worker runs a thread of its own (tests of the gate itself
    use ``detaching()`` without this)."""
    monkeypatch.delenv(bg.DISABLE_ENV, raising=False)
    monkeypatch.setattr(bg, "_single_threaded", lambda: True)
    with bg.detaching():
        yield


def _late_write(path: Path, data: bytes, seconds: float) -> Callable[[], bool]:
    """A write of ``data`` that takes ``seconds`` before it lands."""
    def write() -> bool:
        time.sleep(seconds)
        return write_private(path, [data])

    return write


def _writing_pid(path: Path) -> Callable[[], bool]:
    """A write that leaves the pid of the process it ran in."""
    return lambda: write_private(path, [str(os.getpid()).encode()])


def test_a_forked_child_writes_and_wait_all_makes_it_visible(
        tmp_path: Path, forking: None) -> None:
    path = tmp_path / "entry"
    assert bg.run_detached(_writing_pid(path), keys=[str(path)]) is True
    bg.wait_all()
    assert int(path.read_text()) != os.getpid()  # a child wrote it
    assert not bg._REGISTRY.children


def test_a_reader_waits_for_the_write_of_its_key_only(tmp_path: Path, forking: None) -> None:
    slow, other = tmp_path / "slow", tmp_path / "other"
    bg.run_detached(_late_write(slow, b"done", 0.3), keys=[str(slow)])
    started = time.monotonic()
    bg.wait([str(other)])
    assert time.monotonic() - started < 0.2  # not this key's writer: no wait
    bg.wait([str(slow)])
    assert slow.read_bytes() == b"done"


def test_writes_of_one_key_land_in_the_order_they_were_made(
        tmp_path: Path, forking: None) -> None:
    path = tmp_path / "entry"
    bg.run_detached(_late_write(path, b"first", 0.2), keys=[str(path)])
    bg.run_detached(lambda: write_private(path, [b"second"]), keys=[str(path)])
    bg.wait_all()
    assert path.read_bytes() == b"second"


def test_with_a_second_thread_alive_the_write_runs_inline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bg.DISABLE_ENV, raising=False)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with bg.detaching():
            assert not bg.can_fork()
            path = tmp_path / "entry"
            assert bg.run_detached(_writing_pid(path), keys=[str(path)]) is True
            assert int(path.read_text()) == os.getpid()  # here, and done already
    finally:
        stop.set()
        thread.join()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_a_thread_threading_does_not_count_still_keeps_it_inline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread started below ``threading`` (``_thread``, a C library) is seen by
    the kernel's count."""
    monkeypatch.delenv(bg.DISABLE_ENV, raising=False)
    release = _thread.allocate_lock()
    release.acquire()
    _thread.start_new_thread(release.acquire, ())
    try:
        with bg.detaching():
            assert not bg.can_fork()
    finally:
        release.release()


@pytest.mark.parametrize("value", ["0", "off", "false", "no"])
def test_the_operator_can_turn_it_off(
        tmp_path: Path, forking: None, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(bg.DISABLE_ENV, value)
    path = tmp_path / "entry"
    assert not bg.can_fork()
    bg.run_detached(_writing_pid(path), keys=[str(path)])
    assert int(path.read_text()) == os.getpid()


def test_outside_detaching_the_write_runs_inline_with_its_own_result(tmp_path: Path) -> None:
    """A library user (the agent, a script) reads what it wrote the moment it returns."""
    path = tmp_path / "entry"
    assert not bg.can_fork()
    assert bg.run_detached(_writing_pid(path), keys=[str(path)]) is True
    assert int(path.read_text()) == os.getpid()
    assert bg.run_detached(lambda: False, keys=["x"]) is False


def test_an_exception_in_the_child_never_reaches_the_parent_nor_leaves_a_partial_file(
        tmp_path: Path, forking: None) -> None:
    path = tmp_path / "cache" / "entry"
    path.parent.mkdir()

    def chunks() -> Iterator[bytes]:
        yield b"half of it"
        raise ValueError("a value marshal cannot keep")

    def failing() -> bool:
        return write_private(path, chunks())

    def interrupted() -> bool:
        raise KeyboardInterrupt

    assert bg.run_detached(failing, keys=[str(path)]) is True
    assert bg.run_detached(interrupted, keys=["other"]) is True
    bg.wait_all()
    assert list(path.parent.iterdir()) == []  # neither the entry nor a temp file


def _child_pids(keys: list[str]) -> list[int]:
    pids = []
    for key in keys:
        bg.run_detached(lambda: True, keys=[key])
        pids.extend(pid for pid, c in bg._REGISTRY.children.items() if key in c.keys)
    return pids


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # no longer a child of ours: reaped
        return True
    return False


def test_no_child_is_left_a_zombie(forking: None) -> None:
    pids = _child_pids(["k0", "k1", "k2", "k3"])
    assert len(pids) == 4
    bg.wait_all()
    assert all(_reaped(pid) for pid in pids)
    assert not bg._REGISTRY.children


def test_a_wait_for_one_key_reaps_the_children_that_ended(forking: None) -> None:
    """A long-lived process that only ever reads leaves no zombie either."""
    [pid] = _child_pids(["written"])
    deadline = time.monotonic() + 5
    while bg._REGISTRY.children and time.monotonic() < deadline:
        bg.wait(["another"])
        time.sleep(0.01)
    assert _reaped(pid) and not bg._REGISTRY.children


def test_a_wait_is_bounded_and_a_late_child_is_reaped_later(forking: None) -> None:
    bg.run_detached(lambda: time.sleep(1.0) or True, keys=["slow"])
    started = time.monotonic()
    bg.wait_all(most=0.1)
    assert time.monotonic() - started < 0.8
    assert len(bg._REGISTRY.children) == 1  # still running: left registered
    bg.wait_all()
    assert not bg._REGISTRY.children


def test_buffered_output_is_written_once_and_the_command_waits_at_exit(
        tmp_path: Path) -> None:
    """A fresh single-threaded interpreter, as the CLI runs: no gate is patched."""
    path = tmp_path / "entry"
    script = (
        "import os, sys, time\n"
        "from driftless.model import background as bg\n"
        "from driftless.model.filemap import write_private\n"
        "sys.stdout.write('once')  # still in the buffer at the fork\n"
        "def write():\n"
        "    time.sleep(0.2)\n"
        "    return write_private(bg_path, [str(os.getpid()).encode()])\n"
        f"bg_path = __import__('pathlib').Path({str(path)!r})\n"
        "with bg.detaching():\n"
        "    assert bg.run_detached(write, keys=['k'])\n"
        "    sys.stderr.write('forked' if not bg_path.exists() else 'inline')\n"
        "sys.stderr.write(', written' if bg_path.exists() else ', missing')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != bg.DISABLE_ENV}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, check=True, timeout=60)
    assert done.stdout == "once"
    assert done.stderr == "forked, written"  # waited for when the block ended


STACK = """\
resources:
  a:
    type: local:file
    properties: {path: /tmp/driftless-background-test/a, content: hello}
"""


def _project(root: Path) -> Path:
    (root / "stacks/app").mkdir(parents=True)
    (root / "driftless.yaml").write_text("project: bg\nstacks: [stacks/app]\n")
    (root / "stacks/app/stack.yaml").write_text(STACK)
    return root


def test_a_render_cache_entry_is_written_by_a_child_and_found_by_the_next_lookup(
        tmp_path: Path, forking: None, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    writers = tmp_path / "writers"
    real = cache_mod.write_private

    def recording(path: Path, data: object, **kw: object) -> bool:
        with writers.open("a") as fh:
            fh.write(f"{os.getpid()}\n")
        return real(path, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_mod, "write_private", recording)
    renders: list[str] = []
    import driftless.render.stack as stack_mod

    real_render = stack_mod.render_stack
    monkeypatch.setattr(stack_mod, "render_stack",
                        lambda *a, **k: renders.append("x") or real_render(*a, **k))
    cache = RenderCache.for_project(root)
    assert cache is not None
    first = cache.render_stack(cache.load_project(root), "app", RenderOptions())
    again = cache.render_stack(cache.load_project(root), "app", RenderOptions())  # no wait_all
    assert again == first and len(renders) == 1
    pids = {int(p) for p in writers.read_text().split()}
    assert pids and os.getpid() not in pids  # written by a child
    assert len(list((root / CACHE_DIR).glob("*.bin"))) == 2


def test_a_child_hands_its_answer_back_before_it_writes(tmp_path: Path, forking: None) -> None:
    path = tmp_path / "entry"
    started = time.monotonic()
    answer = bg.run_detached_answering(lambda: str(os.getpid()).encode(),
                                       _late_write(path, b"written", 0.3), keys=[str(path)])
    assert answer is not None
    got = answer.get()
    assert got is not None and int(got) != os.getpid()  # worked out by the child
    assert time.monotonic() - started < 0.25 and not path.exists()  # not after its write
    assert answer.get() == got  # read once, kept
    bg.wait([str(path)])
    assert path.read_bytes() == b"written"


def test_a_child_whose_answer_fails_answers_nothing_and_still_writes(
        tmp_path: Path, forking: None) -> None:
    path = tmp_path / "entry"

    def failing() -> bytes:
        raise RuntimeError("no answer")

    answer = bg.run_detached_answering(failing, lambda: write_private(path, [b"w"]),
                                       keys=[str(path)])
    assert answer is not None and answer.get() is None
    bg.wait_all()
    assert path.read_bytes() == b"w"


def test_an_answer_never_given_is_waited_for_a_bounded_time(forking: None) -> None:
    answer = bg.run_detached_answering(lambda: time.sleep(1) or b"late", lambda: True,
                                       keys=["k"])
    assert answer is not None
    started = time.monotonic()
    assert answer.get(most=0.2) is None
    assert time.monotonic() - started < 2
    bg.wait_all(most=0.1)  # the child is left to end alone, reaped later or by init


def test_without_a_fork_nothing_runs_and_the_caller_answers_itself(tmp_path: Path) -> None:
    ran: list[str] = []
    answer = bg.run_detached_answering(lambda: ran.append("answer") or b"x",
                                       lambda: ran.append("write") or True, keys=["k"])
    assert answer is None and ran == []  # outside ``detaching()``: the caller does both


@pytest.mark.parametrize("fork", [True, False])
def test_a_rendered_stack_digest_is_the_render_digest_forked_or_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork: bool) -> None:
    from driftless.render.digest import stack_digest
    from driftless.render.stack import render_stack

    root = _project(tmp_path)
    monkeypatch.setattr(bg, "_single_threaded", lambda: True)
    cache = RenderCache.for_project(root)
    assert cache is not None
    project = cache.load_project(root)
    handed: list[bool] = []
    real = bg.run_detached_answering

    def spying(*a: object, **k: object) -> bg.Answer | None:
        found = real(*a, **k)  # type: ignore[arg-type]
        handed.append(found is not None)
        return found

    monkeypatch.setattr(cache_mod, "run_detached_answering", spying)
    if fork:
        with bg.detaching():
            stack = cache.render_stack(project, "app", RenderOptions())
            assert not isinstance(stack.digest_of, str)  # still with the child
            digest = stack.digest
    else:
        stack = cache.render_stack(project, "app", RenderOptions())
        digest = stack.digest
    assert handed == [fork]
    plain = render_stack(project, "app", RenderOptions())
    assert digest == stack_digest("app", plain.resources, plain.outputs, plain.depends_on,
                                  plain.settings, {})
    assert digest.startswith("sha256:") and stack.digest_of == digest  # kept once known
    # each resource's digest (the clean-plan memo's), handed back too or made here
    assert stack.resource_digests() == resource_digests(plain.resources)
    assert len(stack.resource_digests()) == DIGEST_SIZE * len(plain.resources)
    again = RenderCache.for_project(root)
    assert again is not None
    assert again.render_stack(project, "app", RenderOptions()).digest == digest  # from the entry


def test_the_head_of_an_answer_is_read_before_the_child_has_worked_out_the_rest(
        forking: None) -> None:
    def parts() -> Iterator[bytes]:
        yield b"first"
        time.sleep(0.5)
        yield b"-rest"

    answer = bg.run_detached_answering(parts, lambda: True, keys=["k"])
    assert answer is not None
    started = time.monotonic()
    assert answer.head(5) == b"first"
    assert time.monotonic() - started < 0.4  # not after the rest
    assert answer.get() == b"first-rest"
    assert answer.head(5) == b"first"
    bg.wait_all()


def test_an_answer_larger_than_its_pipe_is_cut_and_the_child_still_writes(
        tmp_path: Path, forking: None) -> None:
    """The child never waits for the parent to read: what the pipe cannot hold is
    left out, and its write is done before the answer is read at all."""
    path = tmp_path / "entry"
    big = b"x" * (4 * bg.ANSWER_ROOM)
    answer = bg.run_detached_answering(lambda: [b"head", big],
                                       lambda: write_private(path, [b"w"]), keys=[str(path)])
    assert answer is not None
    bg.wait([str(path)], most=10)
    assert path.read_bytes() == b"w"  # written while nothing was read
    got = answer.get()
    assert got is not None and got.startswith(b"head") and len(got) < len(big)


def test_resource_digests_the_child_got_wrong_are_worked_out_in_the_command(
        tmp_path: Path, forking: None, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    cache = RenderCache.for_project(root)
    assert cache is not None
    project = cache.load_project(root)
    real = bg.run_detached_answering

    def short(answer: Callable[[], Iterable[bytes]], write: Callable[[], bool],
              keys: Iterable[str]) -> bg.Answer | None:
        return real(lambda: [next(iter(answer())), b"too short"], write, keys=keys)

    monkeypatch.setattr(cache_mod, "run_detached_answering", short)
    stack = cache.render_stack(project, "app", RenderOptions())
    from driftless.render.stack import render_stack

    plain = render_stack(project, "app", RenderOptions())
    assert stack.digest == plain.digest  # the head was right
    assert stack.resource_digests() == resource_digests(plain.resources)


def test_a_digest_the_child_got_wrong_is_worked_out_in_the_command(
        tmp_path: Path, forking: None, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    cache = RenderCache.for_project(root)
    assert cache is not None
    project = cache.load_project(root)
    real = bg.run_detached_answering
    monkeypatch.setattr(cache_mod, "run_detached_answering",
                        lambda answer, write, keys: real(lambda: b"sha256:nonsense", write,
                                                         keys=keys))
    stack = cache.render_stack(project, "app", RenderOptions())
    from driftless.render.stack import render_stack

    assert stack.digest == render_stack(project, "app", RenderOptions()).digest


def _snapshot(n: int) -> StateSnapshot:
    resources = {}
    for i in range(n):
        rid = ResourceId("local", "file", "f", i)
        resources[rid] = ResourceState(rid, {"path": f"/srv/f{i}", "size": i}, {}, {})
    return StateSnapshot("lineage-1", 1, resources, {})


def test_the_row_cache_is_written_by_a_child_and_read_back_in_the_same_process(
        tmp_path: Path, forking: None,
        count_inflated: Callable[[], list[object]]) -> None:
    db = tmp_path / "s.db"
    writer = from_url(f"sqlite:///{db}", tmp_path)
    try:
        writer.write("files", _snapshot(20))
        assert bg._REGISTRY.children  # the base is being written by a child
    finally:
        writer.close()
    inflated = count_inflated()
    reader = from_url(f"sqlite:///{db}", tmp_path)
    try:
        assert reader.read("files") == _snapshot(20)  # waits for the write
    finally:
        reader.close()
    assert len(inflated) == 1  # the outputs only: every row came from the cache


def _fresh(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in a fresh single-threaded interpreter, as the CLI runs it."""
    env = {k: v for k, v in os.environ.items() if k != bg.DISABLE_ENV}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, check=True, timeout=60, cwd=tmp_path)


def test_a_sleeping_thread_of_ours_lets_the_process_fork_a_busy_one_does_not(
        tmp_path: Path) -> None:
    """A sleeper (the lease renewer) does not keep the command from forking while it
    sleeps; while it works (its busy lock held), or once it is no sleeper, it does."""
    script = (
        "import threading\n"
        "from driftless.model import background as bg\n"
        "stop, busy = threading.Event(), threading.Lock()\n"
        "t = threading.Thread(target=stop.wait); t.start()\n"
        "out = []\n"
        "with bg.detaching():\n"
        "    out.append(bg.can_fork())\n"
        "    bg.add_sleeper(t, busy)\n"
        "    out.append(bg.can_fork())\n"
        "    out.append(bg.run_detached(lambda: True, keys=['k'])\n"
        "               and bg._REGISTRY.children != {})\n"
        "    busy.acquire()\n"
        "    out.append(bg._fork() is None)  # at work: no fork\n"
        "    busy.release()\n"
        "    bg.drop_sleeper(t)\n"
        "    out.append(bg.can_fork())\n"
        "stop.set(); t.join()\n"
        "print(out)\n"
    )
    assert _fresh(script, tmp_path).stdout.strip() == "[False, True, True, True, False]"


def test_the_lease_renewer_sleeps_through_a_fork_and_still_renews(tmp_path: Path) -> None:
    """Holding a lock (its renewer thread running) a command may fork; the renewer
    renews as before, and is no sleeper once the lock is released."""
    script = (
        "import time\n"
        "from driftless.model import background as bg\n"
        "from driftless.state.lease import hold_lock\n"
        "from driftless.state.sqlite import from_url\n"
        "from pathlib import Path\n"
        "backend = from_url('sqlite:///state.db', Path('.'))\n"
        "out = []\n"
        "with bg.detaching():\n"
        "    with hold_lock(backend, 's', operation='apply', lease=0.6) as info:\n"
        "        out.append(bg.can_fork())\n"
        "        first = backend.lock_info('s').expires\n"
        "        time.sleep(0.5)\n"
        "        out.append(backend.lock_info('s').expires > first)  # renewed meanwhile\n"
        "    out.append(bg._REGISTRY.sleepers == {})\n"
        "print(out)\n"
    )
    assert _fresh(script, tmp_path).stdout.strip() == "[True, True, True]"


def test_output_put_aside_comes_before_what_the_command_writes_next(tmp_path: Path) -> None:
    """``aside``: a child writes the output while the block runs; the block's end
    waits for it, so the command's next lines follow it, forked or not."""
    script = (
        "import os, sys, time\n"
        "from driftless.model import background as bg\n"
        "def show():\n"
        "    time.sleep(0.2)\n"
        "    print('plan from', 'child' if os.getpid() != parent else 'parent')\n"
        "parent = os.getpid()\n"
        "print('header')\n"
        "with bg.detaching():\n"
        "    with bg.aside(show):\n"
        "        sys.stderr.write('working\\n')\n"
        "    print('results')\n"
    )
    done = _fresh(script, tmp_path)
    assert done.stdout.splitlines() == ["header", "plan from child", "results"]
    assert done.stderr == "working\n"  # the block ran while the child printed
    inline = _fresh(script.replace("with bg.detaching():", "if True:"), tmp_path)
    assert inline.stdout.splitlines() == ["header", "plan from parent", "results"]


def test_output_put_aside_is_all_there_when_the_block_fails(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from driftless.model import background as bg\n"
        "with bg.detaching():\n"
        "    try:\n"
        "        with bg.aside(lambda: print('\\n'.join(str(i) for i in range(20000)))):\n"
        "            raise RuntimeError('apply failed')\n"
        "    except RuntimeError as exc:\n"
        "        print(exc)\n"
    )
    lines = _fresh(script, tmp_path).stdout.splitlines()
    assert lines == [str(i) for i in range(20000)] + ["apply failed"]
