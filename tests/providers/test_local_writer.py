"""The writer process of a large local apply (``model.helper`` and ``providers.local.offload``).

Real processes and real files: the writer is started as an apply starts it,
its answers are checked against the files on disk, and an apply through it is
compared, file by file and row by row, with the same apply done inline.
"""

from __future__ import annotations

import ast
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from driftless.model import Outcome, Resource, ResourceId, Sensitive, helper, helper_client
from driftless.model.helper_client import HelperProcess
from driftless.providers.local import offload
from driftless.providers.local._atomic import born_mode, temp_path
from driftless.providers.local._fingerprint import RACY_NS
from engine_helpers import engine, stack

MANY = offload.WRITER_MIN + 40


def test_the_helper_program_imports_only_the_standard_library() -> None:
    """It runs as ``python -I -S helper.py``: no site packages, no driftless. The one
    import by name, ISA-L's deflate for ``pack``, is the module the hello names, and
    only ``isal.isal_zlib`` is taken."""
    found, by_name = set(), 0
    for node in ast.walk(ast.parse(Path(helper.__file__).read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            by_name += 1
    assert found - {"__future__"} <= sys.stdlib_module_names
    assert by_name == 1
    with pytest.raises(ValueError, match="no such compressor"):
        helper._compressor("os", str(Path(helper.__file__).parent), 1, -15, 8, b"")


def _task(path: Path, data: bytes, mode: int = 0o644, *, hashed: bool = True,
          ) -> tuple[Any, ...]:
    born = born_mode(mode)
    return (str(path), temp_path(str(path), 424242, 0), data, born,
            None if born == mode else mode, None, hashed)


def test_the_writer_writes_each_file_and_answers_its_stat_or_its_error(
        tmp_path: Path) -> None:
    w = offload._Writer.start()
    assert w is not None
    try:
        (tmp_path / "a-dir").mkdir()
        tasks = [_task(tmp_path / "one.txt", b"one\n"),
                 _task(tmp_path / "secret.txt", b"s3cret\n", 0o600, hashed=False),
                 _task(tmp_path / "missing" / "x.txt", b"x"),
                 _task(tmp_path / "a-dir", b"not a file")]
        before = time.time_ns()
        w.send(tasks)
        answers = w.receive(len(tasks))
        after = time.time_ns()
    finally:
        w.close()
    (ok1, st1), (ok2, st2), (ok3, err3), (ok4, err4) = answers
    assert ok1 and ok2 and not ok3 and not ok4
    assert st1[7] == hashlib.sha256(b"one\n").hexdigest()  # the digest its record keeps
    assert st2[7] is None  # not asked: a secret's digest is keyed, made in driftless
    assert (tmp_path / "one.txt").read_bytes() == b"one\n"
    on_disk = os.stat(tmp_path / "secret.txt")
    assert offload.WrittenStat(*st2[:7]) == (on_disk.st_mode, on_disk.st_size, on_disk.st_mtime_ns,
                                         on_disk.st_ctime_ns, on_disk.st_ino, on_disk.st_uid,
                                         on_disk.st_gid)
    assert stat.S_IMODE(on_disk.st_mode) == 0o600
    # backdated by 2 * RACY_NS from the moment of the write: never racily clean
    assert before - 2 * RACY_NS <= on_disk.st_mtime_ns <= after - 2 * RACY_NS
    assert err3[0] == 2 and err4[0] in (21, 20)  # ENOENT; EISDIR (or ENOTDIR)
    assert not [p for p in tmp_path.rglob(".*.tmp")]  # a failed write leaves no temp file


def test_a_request_written_short_still_reaches_the_helper_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``send`` writes a request's length and body in one ``writev``; when that
    writes only part (a signal), the rest follows, so the helper reads it whole."""
    short: list[int] = []

    def writev(fd: int, parts: list[bytes]) -> int:
        short.append(3)
        return os.write(fd, b"".join(parts)[:3])  # the first 3 bytes of the length only

    monkeypatch.setattr(helper_client.os, "writev", writev)
    w = offload._Writer.start()
    assert w is not None
    data = os.urandom(300_000)
    try:
        w.send([_task(tmp_path / "big.bin", data)])
        ((ok, st),) = w.receive(1)
    finally:
        w.close()
    assert short == [3] and ok
    assert (tmp_path / "big.bin").read_bytes() == data
    assert st[7] == hashlib.sha256(data).hexdigest()


def test_a_helper_inherits_no_credential_of_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLESS_STATE_KEY", "passphrase:do-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak-either")
    w = HelperProcess.start("write", "20000000", "0")
    assert w is not None
    try:
        w.send([])  # answered once it runs: its environment is then readable
        assert w.receive(0) == []
        environ = Path(f"/proc/{w.pid}/environ").read_bytes()
    finally:
        w.close()
    assert b"do-not-leak" not in environ
    assert b"PATH=" + os.environ["PATH"].encode() in environ.split(b"\0")


def _files(root: Path, n: int, *, tag: str = "") -> list[Resource]:
    out = []
    for i in range(n):
        props: dict[str, Any] = {"path": str(root / f"d{i % 3}" / f"f{i}.txt"),
                                 "content": f"{tag}{i} " + "body " * 40, "make_parents": True}
        if i % 7 == 0:
            props["mode"] = "0600"
        if i == 5:
            props["content"] = Sensitive(f"{tag}secret {i}")
        out.append(Resource(ResourceId("local", "file", "f", i), props))
    return out


def _apply(tmp: Path, resources: list[Resource], monkeypatch: pytest.MonkeyPatch,
           *, writer_on: bool) -> Any:
    monkeypatch.setenv(helper_client.DISABLE_ENV, "1" if writer_on else "0")
    eng = engine(tmp)
    desired = stack("s", resources)
    report = eng.apply(eng.plan(desired), desired)
    assert report.ok, [r.message for r in report.results if r.outcome is not Outcome.APPLIED]
    return eng.backend.read("s")


_MOVING = ("mtime_ns", "ctime_ns", "ino", "seen_ns")


def _rows(snap: Any, root: Path) -> dict[str, Any]:
    """Each row with what differs between two writes of the same bytes left out."""
    out = {}
    for rid, rs in snap.resources.items():
        attrs = {k: str(v).replace(str(root), "<root>") for k, v in rs.attributes.items()}
        private = {k: v for k, v in rs.private.items() if k not in _MOVING}
        inputs = {k: str(v).replace(str(root), "<root>") for k, v in rs.inputs.items()}
        out[str(rid)] = (attrs, private, inputs)
    return out


def test_an_apply_through_the_writer_is_the_inline_apply(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    real_start = offload._Writer.start

    def counted() -> Any:
        found = real_start()
        if found is not None:
            started.append(found.pid)
        return found

    monkeypatch.setattr(offload._Writer, "start", staticmethod(counted))
    through, inline = tmp_path / "through", tmp_path / "inline"
    through.mkdir()
    inline.mkdir()
    snap_w = _apply(through, _files(through / "out", MANY), monkeypatch, writer_on=True)
    assert len(started) == 1
    snap_i = _apply(inline, _files(inline / "out", MANY), monkeypatch, writer_on=False)
    assert len(started) == 1  # turned off: no writer
    assert _rows(snap_w, through) == _rows(snap_i, inline)
    for i in range(MANY):
        a = through / "out" / f"d{i % 3}" / f"f{i}.txt"
        b = inline / "out" / f"d{i % 3}" / f"f{i}.txt"
        assert a.read_bytes() == b.read_bytes()
        assert stat.S_IMODE(a.stat().st_mode) == stat.S_IMODE(b.stat().st_mode)
    assert "secret 5" not in str(snap_w.resources)  # a secret's row keeps its digest only
    assert not [p for p in (through / "out").rglob(".*.tmp")]


def test_updates_go_through_the_writer_and_a_second_plan_is_clean(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _apply(tmp_path, _files(tmp_path / "out", MANY), monkeypatch, writer_on=True)
    snap = _apply(tmp_path, _files(tmp_path / "out", MANY, tag="v2 "), monkeypatch,
                  writer_on=True)
    assert (tmp_path / "out" / "d1" / "f1.txt").read_text().startswith("v2 1 ")
    eng = engine(tmp_path)
    assert not eng.plan(stack("s", _files(tmp_path / "out", MANY, tag="v2 "))).has_changes()
    assert len(snap.resources) == MANY


def test_errors_through_the_writer_are_an_inline_writes_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bad(root: Path) -> list[Resource]:
        files = _files(root / "out", MANY)
        files[4] = Resource(files[4].id, {"path": str(root / "nowhere" / "f4.txt"),
                                          "content": "x"})  # no make_parents
        return files

    messages = {}
    for on in (True, False):
        root = tmp_path / ("on" if on else "off")
        root.mkdir()
        monkeypatch.setenv(helper_client.DISABLE_ENV, "1" if on else "0")
        eng = engine(root)
        desired = stack("s", bad(root))
        plan = eng.plan(desired)
        (root / "out" / "d0" / "f3.txt").mkdir(parents=True)  # a directory where a file goes
        report = eng.apply(plan, desired)
        failed = {str(r.id): r.message.replace(str(root), "<root>") for r in report.results
                  if r.outcome is Outcome.FAILED}
        messages[on] = failed
        assert sum(r.outcome is Outcome.APPLIED for r in report.results) == MANY - 2
    assert messages[True] == messages[False]
    assert "is a directory" in messages[True]["local:file/f[3]"]
    assert "does not exist" in messages[True]["local:file/f[4]"]


def test_a_writer_that_dies_mid_apply_leaves_every_write_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_send = HelperProcess.send
    sent: list[int] = []

    def send_then_die(self: Any, tasks: list[Any]) -> None:
        real_send(self, tasks)
        sent.append(len(tasks))
        if len(sent) == 1:
            os.kill(self.pid, signal.SIGKILL)

    monkeypatch.setattr(HelperProcess, "send", send_then_die)
    snap = _apply(tmp_path, _files(tmp_path / "out", 700), monkeypatch, writer_on=True)
    assert len(snap.resources) == 700 and len(sent) <= offload._IN_FLIGHT
    for i in (0, 299, 699):
        path = tmp_path / "out" / f"d{i % 3}" / f"f{i}.txt"
        assert path.read_text().startswith(f"{i} ")
    assert not [p for p in (tmp_path / "out").rglob(".*.tmp")]


def test_the_writer_starts_while_the_intents_are_journaled_and_writes_after(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner lets the local provider start its writer before the batch's intents
    are journaled (its start-up then overlaps them); the writer gets no write before
    every intent is durable, and the apply uses that very writer."""
    events: list[str] = []
    real_start, real_send = offload._Writer.start, HelperProcess.send

    def start() -> Any:
        found = real_start()
        events.append(f"start {found.pid if found else None}")
        return found

    def send(self: HelperProcess, request: Any) -> None:
        if isinstance(request, list) and request and len(request[0]) == 7:
            events.append(f"send {self.pid}")
        real_send(self, request)

    from driftless.state import sqlite_journal

    real_begin = sqlite_journal.SQLiteJournal.begin_many

    def begin(self: Any, items: Any) -> Any:
        events.append("intents")
        return real_begin(self, items)

    monkeypatch.setattr(offload._Writer, "start", staticmethod(start))
    monkeypatch.setattr(HelperProcess, "send", send)
    monkeypatch.setattr(sqlite_journal.SQLiteJournal, "begin_many", begin)
    snap = _apply(tmp_path, _files(tmp_path / "out", MANY), monkeypatch, writer_on=True)
    assert len(snap.resources) == MANY
    pid = events[0].split()[1]
    assert events[:2] == [f"start {pid}", "intents"] and pid != "None"
    assert set(events[2:]) == {f"send {pid}"}  # one writer, used once every intent is in


def test_a_writer_started_ahead_and_never_used_ends_with_its_provider() -> None:
    from driftless.model import Action, Change
    from driftless.providers.local import LocalProvider

    provider = LocalProvider()
    changes = [Change(r.id, Action.CREATE, r) for r in _files(Path("/nonexistent"), MANY)]
    provider.prepare_many(changes)
    writer = provider._writer
    assert writer is not None and Path(f"/proc/{writer.pid}").exists()
    provider.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(writer.pid):
        time.sleep(0.01)
    assert not _running(writer.pid)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _writers(cwd: Path) -> list[int]:
    """Pids of writer processes running now in ``cwd`` (a writer keeps the directory of
    the driftless process that started it: other tests' writers are not counted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
                where = os.readlink(entry / "cwd")
            except OSError:
                continue
            if b"model/helper.py" in cmd and b"write" in cmd and where == str(cwd):
                found.append(int(entry.name))
    return found


def test_a_killed_apply_takes_its_writer_down_and_the_next_apply_recovers(
        tmp_path: Path) -> None:
    """kill -9 of the driftless process mid-write: the writer ends once its input
    does, and the next apply finishes the job with nothing stray left."""
    n = 3000
    project = tmp_path / "p"
    (project / "stacks" / "files").mkdir(parents=True)
    (project / "driftless.yaml").write_text(
        "project: w\nstate: sqlite:///.driftless/state.db\nstacks:\n  - stacks/files\n")
    out = tmp_path / "out"
    body = "payload " * 100
    (project / "stacks" / "files" / "stack.yaml").write_text(
        f"resources:\n  f:\n    type: local:file\n    count: {n}\n    properties:\n"
        f'      path: "{out}/f${{count.index}}.txt"\n      make_parents: true\n'
        f'      content: "${{count.index}} {body}"\n')
    env = {**os.environ, "NO_COLOR": "1", "DRIFTLESS_DIGEST_KEY": "writer-test-key-0123456789",
           "HOME": str(tmp_path)}
    argv = [sys.executable, "-m", "driftless", "apply", "--auto-approve"]
    proc = subprocess.Popen(argv, cwd=project, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_dir() and len(os.listdir(out)) > 200:
            break
        time.sleep(0.005)
    assert _writers(project)  # the apply's writer, found as the check below finds one
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(os.listdir(out)) < n  # killed mid-apply
    deadline = time.monotonic() + 10
    while _writers(project) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _writers(project)
    again = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True,
                           timeout=120, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(os.listdir(out)) == sorted(f"f{i}.txt" for i in range(n))
    assert (out / "f2999.txt").read_text().startswith("2999 payload")
    plan = subprocess.run([sys.executable, "-m", "driftless", "plan", "--detailed-exitcode"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_a_large_batch_journals_its_intents_a_chunk_ahead_of_its_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The intents of a large batch are journaled a chunk at a time while the writer
    writes the chunk before; no write is sent before its own intent is durable."""
    from driftless.apply import runner
    from driftless.state import sqlite_journal

    monkeypatch.setattr(runner, "INTENTS_EVERY", 60)
    monkeypatch.setattr(offload, "_BATCH_FILES", 20)
    events: list[str] = []
    journaled: set[str] = set()
    real_begin, real_send = sqlite_journal.SQLiteJournal.begin_many, HelperProcess.send

    def begin(self: Any, items: Any) -> Any:
        seqs = real_begin(self, items)
        journaled.update(address for address, _, _ in items)
        events.append(f"intents {len(journaled)}")
        return seqs

    def send(self: HelperProcess, request: Any) -> None:
        if isinstance(request, list) and request and len(request[0]) == 7:
            sent = {f"local:file/f[{Path(task[0]).stem[1:]}]" for task in request}
            assert sent <= journaled, "a write was sent before its intent was journaled"
            events.append("send")
        real_send(self, request)

    monkeypatch.setattr(sqlite_journal.SQLiteJournal, "begin_many", begin)
    monkeypatch.setattr(HelperProcess, "send", send)
    snap = _apply(tmp_path, _files(tmp_path / "out", MANY), monkeypatch, writer_on=True)
    assert len(snap.resources) == MANY
    assert [e for e in events if e.startswith("intents")] == [
        "intents 60", "intents 120", f"intents {MANY}"]
    # the writer had the first chunk's writes before the second chunk was journaled
    assert events[:4] == ["intents 60", "send", "send", "send"]


def test_closing_a_writer_does_not_wait_for_it_and_it_is_reaped_later(
        tmp_path: Path) -> None:
    """``close`` returns while the writer still finishes the batch it holds; the
    exited writer is reaped by a later start, leaving no zombie behind."""
    w = offload._Writer.start()
    assert w is not None
    w.send([_task(tmp_path / f"f{i}.txt", b"x" * 1000) for i in range(3000)])
    w.close()
    assert w.pid in helper_client._EXITING
    assert _running(w.pid)  # still writing: close did not wait for it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _running(w.pid):
        time.sleep(0.01)
    assert len(list(tmp_path.glob("f*.txt"))) == 3000  # it finished what it held
    other = offload._Writer.start()  # a later start reaps it
    assert other is not None
    other.close()
    assert w.pid not in helper_client._EXITING
    with pytest.raises(ChildProcessError):  # reaped already: no zombie left
        os.waitpid(w.pid, os.WNOHANG)


def test_a_helper_runs_behind_driftless_on_a_shared_core() -> None:
    """A helper lowers its own priority (``helper.NICE``): where it shares a core with
    driftless, driftless comes first."""
    w = offload._Writer.start()
    assert w is not None
    try:
        w.send([])  # answered once it serves: its priority is set by then
        w.receive(0)
        fields = Path(f"/proc/{w.pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(fields[16]) == min(19, os.nice(0) + helper.NICE)  # field 19: nice
    finally:
        w.close()


def test_a_ctrl_c_does_not_stop_a_helper_mid_batch(tmp_path: Path) -> None:
    """A helper starts with SIGINT blocked: the Ctrl-C a terminal sends the whole
    process group stops driftless (which closes the helper's input), while the
    helper still writes and answers the batch it holds."""
    w = offload._Writer.start()
    assert w is not None
    try:
        w.send([])  # answered once it serves
        w.receive(0)
        mask = next(line for line in Path(f"/proc/{w.pid}/status").read_text().splitlines()
                    if line.startswith("SigBlk:"))
        assert int(mask.split()[1], 16) & (1 << (signal.SIGINT - 1))
        os.kill(w.pid, signal.SIGINT)
        w.send([_task(tmp_path / "after.txt", b"still here\n")])
        (ok, _), = w.receive(1)
    finally:
        w.close()
    assert ok and (tmp_path / "after.txt").read_bytes() == b"still here\n"


def test_a_batch_of_written_files_lands_as_each_one_would(tmp_path: Path) -> None:
    """``landed_many`` gives each file of a writer's batch the view ``landed`` gives it
    alone: a plain file, a secret one (keyed digest), one whose stat is racily clean
    (hashed again), one of another mode; a change that cannot land fails alone."""
    from driftless.model import Action, Change
    from driftless.providers.base import secure_live
    from driftless.providers.local import LocalProvider
    from driftless.providers.local.files import HANDLERS

    provider = LocalProvider()
    items: list[Any] = []
    for i, (content, mode, racy_now) in enumerate([
            ("plain " * 60, 0o644, False), (Sensitive("s3cret " * 60), 0o644, False),
            ("racy " * 60, 0o644, True), ("private " * 60, 0o600, False)]):
        path = tmp_path / f"f{i}.txt"
        props: dict[str, Any] = {"path": str(path), "content": content}
        if mode != 0o644:
            props["mode"] = f"{mode:04o}"
        res = Resource(ResourceId("local", "file", f"f{i}"), props)
        change = Change(res.id, Action.CREATE, res, None)
        write = HANDLERS["file"].offload(change)
        assert write is not None
        st = helper.write_file(write.path, str(path) + ".tmp", (write.data,), born=0o600,
                               final=write.mode, owner=None, racy_ns=RACY_NS, fsync=False)
        if racy_now:
            os.utime(path)
            st = os.stat(path)
        digest = None if isinstance(content, Sensitive) else hashlib.sha256(
            write.data).hexdigest()
        items.append((change, write, offload.WrittenStat(*helper._stat_tuple(st)), digest))
    broken = Change(ResourceId("local", "file", "gone"), Action.CREATE, None, None)
    items.append((broken, items[0][1], items[0][2], items[0][3]))

    views = provider.landed_many(items)
    assert isinstance(views[-1], Exception)
    for (change, write, st, digest), view in zip(items[:-1], views[:-1], strict=True):
        alone = secure_live(HANDLERS["file"].spec, change.desired,
                            HANDLERS["file"].landed(change, write, st, digest))
        assert view is not None and alone is not None and not isinstance(view, Exception)
        assert view.attributes == alone.attributes
        assert {k: v for k, v in view.private.items() if k != "seen_ns"} == \
            {k: v for k, v in alone.private.items() if k != "seen_ns"}
    assert "s3cret" not in str(views[1])  # the secret's digest is keyed
    assert views[3].attributes["mode"] == "0600"  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/a/b/f.txt", "/f", "/a//f", "/a/b/", "a/b", "f", "", "/",
                                  "//x", "/a/./b/c", "a/", "/a/b//c/", "/a/b/c//"])
def test_the_quick_parent_is_dirnames(path: str) -> None:
    """``parent_of`` is ``os.path.dirname`` (one rpartition in the common case)."""
    from driftless.providers.local._atomic import parent_of

    assert parent_of(path) == os.path.dirname(path)


def test_a_chain_of_files_applied_one_at_a_time_starts_no_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine starts a writer ahead only for the changes the walk's first batch
    holds: a chain of more than ``WRITER_MIN`` files, each after the one before, is
    applied a file at a time and needs none."""
    started: list[str] = []
    real = HelperProcess.start

    def counted(job: str, *args: str) -> Any:
        started.append(job)
        return real(job, *args)

    monkeypatch.setattr(HelperProcess, "start", staticmethod(counted))
    monkeypatch.setenv(helper_client.DISABLE_ENV, "1")
    files = _files(tmp_path / "out", MANY)
    chain = [files[0], *(Resource(r.id, r.properties, depends_on=(files[i].id,))
                         for i, r in enumerate(files[1:]))]
    eng = engine(tmp_path)
    desired = stack("s", chain)
    report = eng.apply(eng.plan(desired), desired)
    assert report.ok
    assert "write" not in started
    assert len(list((tmp_path / "out").rglob("f*.txt"))) == MANY
    flat = stack("t", _files(tmp_path / "flat", MANY))
    assert eng.apply(eng.plan(flat), flat).ok
    assert started.count("write") == 1  # independent files: one writer, started ahead
