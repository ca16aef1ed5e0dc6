"""The clean-plan memo: a repeated no-op plan only stats, and never hides a change.

Real files, the real local provider and SQLite state; the memo lives in a
cache directory as the CLI keeps it. "Used" is observed by counting the
kind reads a plan makes: a plan replayed from the memo reads nothing.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from driftless.engine import Engine
from driftless.model import Action, DesiredStack, Plan, Resource, ResourceId
from driftless.plan.memo import KEEP, CleanMemo
from driftless.providers import ProviderSet
from driftless.providers.local.files import ContentFileHandler
from driftless.render.digest import stack_digest
from engine_helpers import backend

KEY = b"memo-test-key-0123456789abcdef"


def _stack(resources: list[Resource]) -> DesiredStack:
    """A desired stack with the real render digest of its content."""
    return DesiredStack("files", tuple(resources),
                        stack_digest("files", resources, {}, (), {}, {}))


def _file(path: Path, content: str, **props: Any) -> Resource:
    rid = ResourceId("local", "file", path.name.replace(".", "_"))
    return Resource(rid, {"path": str(path), "content": content, **props})


def _engine(tmp: Path, key: bytes = KEY, context: Any = None) -> Engine:
    memo = CleanMemo(tmp / ".driftless" / "cache", key=key, context=context)
    return Engine(providers=ProviderSet(), backend=backend(tmp), workers=2, memo=memo)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every content-file read the plans make, by address."""
    seen: list[str] = []
    real = ContentFileHandler.read

    def counting(self: ContentFileHandler, resource: Resource, prior: Any) -> Any:
        seen.append(str(resource.id))
        return real(self, resource, prior)

    monkeypatch.setattr(ContentFileHandler, "read", counting)
    return seen


def _applied(tmp: Path, n: int = 5) -> tuple[Engine, DesiredStack]:
    files = tmp / "files"
    files.mkdir()
    desired = _stack([_file(files / f"f{i}.txt", f"body {i}\n" * 20) for i in range(n)])
    eng = _engine(tmp)
    report = eng.apply(eng.plan(desired), desired)
    assert report.ok
    return eng, desired


def _plan(eng: Engine, desired: DesiredStack) -> Plan:
    return eng.plan(desired)


def test_second_no_op_plan_reads_nothing_and_equals_the_full_plan(
        tmp_path: Path, reads: list[str]) -> None:
    eng, desired = _applied(tmp_path)
    reads.clear()
    first = _plan(eng, desired)  # full: reads every file, then remembers
    assert len(reads) == 5 and not first.has_changes()
    assert [p.name for p in (tmp_path / ".driftless" / "cache").iterdir()
            if p.name.startswith("clean-")]
    reads.clear()
    again = _plan(eng, desired)
    assert reads == []  # replayed from the memo: stats only
    assert again == first  # the very same plan, change for change


def test_content_drift_with_same_size_and_mtime_is_found(
        tmp_path: Path, reads: list[str]) -> None:
    eng, desired = _applied(tmp_path)
    _plan(eng, desired)
    target = Path(desired.resources[2].properties["path"])
    before = target.stat()
    target.write_text(target.read_text().replace("body", "BODY"))  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime set back
    assert target.stat().st_size == before.st_size
    reads.clear()
    drifted = _plan(eng, desired)
    assert reads  # ctime and inode moved: the memo did not answer
    changed = [c for c in drifted.changes if c.action is not Action.NOOP]
    assert [str(c.id) for c in changed] == [str(desired.resources[2].id)]
    assert changed[0].action is Action.UPDATE


def test_a_deleted_file_is_planned_again(tmp_path: Path) -> None:
    eng, desired = _applied(tmp_path)
    _plan(eng, desired)
    Path(desired.resources[0].properties["path"]).unlink()
    again = _plan(eng, desired)
    assert [c.action for c in again.changes if c.action is not Action.NOOP] == [Action.CREATE]


def test_config_change_and_removed_resource_miss_the_memo(tmp_path: Path) -> None:
    eng, desired = _applied(tmp_path)
    _plan(eng, desired)
    first, *rest = desired.resources
    edited = _stack([_file(Path(first.properties["path"]), "new\n"), *rest])
    assert next(c.action for c in _plan(eng, edited).changes) is Action.UPDATE
    fewer = _stack(list(rest))
    assert [c.action for c in _plan(eng, fewer).changes
            if c.action is not Action.NOOP] == [Action.DELETE]


def test_a_state_write_moves_the_key(tmp_path: Path, reads: list[str]) -> None:
    """A new serial misses the stack's entry; its rows did not change, so each
    resource is still settled by its own key and a stat."""
    eng, desired = _applied(tmp_path)
    _plan(eng, desired)
    snap = eng.backend.read("files")
    eng.backend.write("files", snap.next())  # e.g. state protect, refresh, restore
    assert eng.memo is not None
    assert not eng.memo.holds(eng.memo.name(desired, eng.backend.read("files")))
    reads.clear()
    planned = _plan(eng, desired)
    assert reads == [] and planned.serial == snap.serial + 1
    assert planned == _without_memo(tmp_path).plan(desired)


def test_another_key_or_provider_config_does_not_trust_the_entry(
        tmp_path: Path, reads: list[str]) -> None:
    eng, desired = _applied(tmp_path)
    _plan(eng, desired)
    for other in (_engine(tmp_path, key=b"another-operator-key-000000000"),
                  _engine(tmp_path, context={"local": {"x": 1}})):
        reads.clear()
        _plan(other, desired)
        assert len(reads) == 5


def test_a_planted_entry_is_ignored(tmp_path: Path, reads: list[str]) -> None:
    eng, desired = _applied(tmp_path)
    assert eng.memo is not None
    name = eng.memo.name(desired, eng.backend.read("files"))
    cache = tmp_path / ".driftless" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / name).write_bytes(b"\0" * 32)  # the right name, a forged seal
    reads.clear()
    _plan(eng, desired)
    assert len(reads) == 5


def test_source_files_are_never_trusted_to_the_memo(tmp_path: Path, reads: list[str]) -> None:
    """A ``source`` file is read at plan time, so its bytes are not in the render
    digest: a stack that copies one always plans in full."""
    src = tmp_path / "src.txt"
    src.write_text("one\n")
    target = tmp_path / "out.txt"
    res = Resource(ResourceId("local", "file", "copy"), {"path": str(target), "source": str(src)})
    desired = _stack([res])
    eng = _engine(tmp_path)
    assert eng.apply(eng.plan(desired), desired).ok
    _plan(eng, desired)
    src.write_text("two\n")
    changed = [c for c in _plan(eng, desired).changes if c.action is not Action.NOOP]
    assert [c.action for c in changed] == [Action.UPDATE]


def test_entries_are_pruned(tmp_path: Path) -> None:
    memo = CleanMemo(tmp_path / ".driftless" / "cache", key=KEY)
    for i in range(KEEP + 5):
        memo.remember(f"clean-{i:040d}")
    kept = [p for p in (tmp_path / ".driftless" / "cache").iterdir()]
    assert len(kept) == KEEP


# -- per resource: a plan with changes still skips what did not change -----------

def _without_memo(tmp: Path) -> Engine:
    return Engine(providers=ProviderSet(), backend=backend(tmp), workers=2)


def test_a_plan_with_changes_reads_only_the_changed_resources(
        tmp_path: Path, reads: list[str]) -> None:
    eng, desired = _applied(tmp_path, n=6)
    _plan(eng, desired)  # full: remembers the six unchanged resources
    first, *rest = desired.resources
    edited = _stack([_file(Path(first.properties["path"]), "new\n"), *rest])
    reads.clear()
    planned = _plan(eng, edited)
    assert reads == [str(first.id)]  # the other five were settled by a stat
    assert planned == _without_memo(tmp_path).plan(edited)  # the very same plan
    assert [c.action for c in planned.changes].count(Action.NOOP) == 5


def test_settled_resources_still_find_drift(tmp_path: Path, reads: list[str]) -> None:
    eng, desired = _applied(tmp_path)
    _plan(eng, desired)
    first, *rest = desired.resources
    edited = _stack([_file(Path(first.properties["path"]), "new\n"), *rest])
    target = Path(rest[1].properties["path"])
    before = target.stat()
    target.write_text(target.read_text().replace("body", "BODY"))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    planned = _plan(eng, edited)
    changed = {str(c.id): c.action for c in planned.changes if c.action is not Action.NOOP}
    assert changed == {str(first.id): Action.UPDATE, str(rest[1].id): Action.UPDATE}


def test_a_rewritten_state_row_is_planned_in_full(tmp_path: Path, reads: list[str]) -> None:
    """The key holds the row: a row written since (refresh, import, by hand) is
    read and diffed again, even when the file and its properties did not move."""
    eng, desired = _applied(tmp_path)
    _plan(eng, desired)
    snap = eng.backend.read("files")
    rid = desired.resources[3].id
    rows = dict(snap.resources)
    rows[rid] = replace(rows[rid], attributes={**rows[rid].attributes, "mode": "0600"})
    eng.backend.write("files", snap.next(rows))
    reads.clear()
    planned = _plan(eng, desired)
    assert reads == [str(rid)]
    assert planned == _without_memo(tmp_path).plan(desired)


def test_a_new_client_settles_by_the_stored_rows(
        tmp_path: Path, reads: list[str]) -> None:
    """Keys recorded by one client (rows it wrote, keyed by their stored bytes) are
    found by the next (rows it read back): the stored row is the row, whoever holds it."""
    eng, desired = _applied(tmp_path, n=6)
    _plan(eng, desired)
    held = eng.backend.stored_rows("files")  # type: ignore[attr-defined]
    assert held and all(isinstance(stored, bytes) for _, stored in held.values())
    first, *rest = desired.resources
    edited = _stack([_file(Path(first.properties["path"]), "new\n"), *rest])
    reads.clear()
    planned = _engine(tmp_path).plan(edited)  # a new backend: rows read from disk
    assert reads == [str(first.id)]
    assert planned == _without_memo(tmp_path).plan(edited)


class _NoStoredRows:
    """A backend that keeps no stored rows (as S3 or an encrypting wrapper)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "stored_rows":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_a_backend_without_stored_rows_keys_rows_by_their_values(
        tmp_path: Path, reads: list[str]) -> None:
    _applied(tmp_path, n=4)
    memo = CleanMemo(tmp_path / ".driftless" / "cache", key=KEY)
    eng = Engine(providers=ProviderSet(), backend=_NoStoredRows(backend(tmp_path)), workers=2,
                 memo=memo)
    desired = _stack([_file(tmp_path / "files" / f"f{i}.txt", f"body {i}\n" * 20)
                      for i in range(4)])
    eng.plan(desired)
    first, *rest = desired.resources
    edited = _stack([_file(Path(first.properties["path"]), "new\n"), *rest])
    reads.clear()
    planned = eng.plan(edited)
    assert reads == [str(first.id)]
    assert planned == _without_memo(tmp_path).plan(edited)
