"""local:file, directory and symlink on real files: drift, secrets, hostile paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import ProviderError
from driftless.model import Action, Change, LiveResource, Resource, ResourceId, Sensitive
from driftless.providers.local import LocalProvider


def _res(kind: str, **props: Any) -> Resource:
    return Resource(ResourceId("local", kind, "x"), props)


def _apply(p: LocalProvider, r: Resource, prior: LiveResource | None = None) -> LiveResource:
    live = p.apply(p.diff(r, p.read(r, prior)))
    assert live is not None
    return live


def test_file_noop_read_trusts_fingerprint_and_hand_edit_is_drift(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "motd"
    r = _res("file", path=str(path), content="hello\n", mode="0640")
    live = _apply(p, r)
    assert path.read_text() == "hello\n" and oct(path.stat().st_mode & 0o777) == "0o640"
    assert p.read(r, live) is live  # stat only: the prior view is returned untouched
    assert p.diff(r, live).action is Action.NOOP
    path.write_text("HELLO, edited\n")
    drift = p.diff(r, p.read(r, live))
    assert drift.action is Action.UPDATE and [d.path for d in drift.diffs] == ["content"]
    assert drift.diffs[0].shown() == ("HELLO, edited\n", "hello\n")  # text, for a diff
    restored = p.apply(drift)
    assert path.read_text() == "hello\n" and restored is not None
    assert p.diff(r, p.read(r, restored)).action is Action.NOOP


def test_file_mode_change_only_chmods(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "f"
    live = _apply(p, _res("file", path=str(path), content="x", mode="0644"))
    inode = path.stat().st_ino
    r2 = _res("file", path=str(path), content="x", mode="0600")
    change = p.diff(r2, p.read(r2, live))
    assert change.action is Action.UPDATE and [d.path for d in change.diffs] == ["mode"]
    p.apply(change)
    assert path.stat().st_ino == inode and oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o000])
def test_the_umask_never_decides_the_mode(tmp_path: Path, umask: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A file is created with its own mode when the umask leaves it whole (no chmod),
    else 0600 and chmod: the final mode is the wanted one whatever the umask, even
    one changed after driftless read it (then it is set again after the rename)."""
    from driftless.providers.local import _atomic

    created: list[int] = []
    real_open = os.open

    def spy(path: str, flags: int, mode: int = 0o777, **kw: Any) -> int:
        if path.endswith(".tmp"):
            created.append(mode)
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(_atomic.os, "open", spy)
    p = LocalProvider()
    old = os.umask(umask)
    try:
        for mode in ("0644", "0600", "0755", "0640"):
            path = tmp_path / f"f{mode}"
            live = _apply(p, _res("file", path=str(path), content="x", mode=mode))
            assert oct(path.stat().st_mode & 0o777) == "0o" + mode[1:]
            assert live.attributes["mode"] == mode
    finally:
        os.umask(old)
    # never wider than the wanted mode while written, and the wanted one itself when
    # the umask read at start (022 here) leaves it whole
    assert all(m in (0o600, 0o644, 0o755, 0o640) for m in created)
    if _atomic._Umask.value == 0o022:
        assert created == [0o644, 0o600, 0o755, 0o640]


def test_file_from_source_copies_bytes(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"\x00\x01bin")
    p, path = LocalProvider(), tmp_path / "copy"
    r = _res("file", path=str(path), source=str(src))
    live = _apply(p, r)
    assert path.read_bytes() == b"\x00\x01bin"
    src.write_bytes(b"changed")
    assert p.diff(r, p.read(r, live)).action is Action.UPDATE


def test_sensitive_content_keeps_only_a_keyed_digest(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "token"
    r = _res("file", path=str(path), content=Sensitive("hunter2"))
    live = _apply(p, r)
    assert path.read_text() == "hunter2"
    assert "hunter2" not in repr(live) and live.attributes["sha256"].startswith("hmac-sha256:")
    r2 = _res("file", path=str(path), content=Sensitive("other"))
    change = p.diff(r2, p.read(r2, live))
    assert change.diffs[0].shown() == ("(sensitive)", "(sensitive)")
    assert "hunter2" not in str(change.to_json()) and "other" not in str(change.to_json())


def test_missing_parent_fails_unless_make_parents(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "a" / "b" / "f"
    r = _res("file", path=str(path), content="x")
    with pytest.raises(ProviderError, match=r"local:file/x: parent directory .* does not exist"):
        p.apply(p.diff(r, None))
    assert not (tmp_path / "a").exists()
    _apply(p, _res("file", path=str(path), content="x", make_parents=True))
    assert path.read_text() == "x"


def test_path_under_a_regular_file_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a dir")
    p = LocalProvider()
    r = _res("file", path=str(blocker / "f"), content="x", make_parents=True)
    assert p.read(r, None) is None
    with pytest.raises(ProviderError) as err:
        p.apply(p.diff(r, None))
    assert "local:file/x" in str(err.value) and str(blocker) in str(err.value)
    assert "Traceback" not in str(err.value) and blocker.read_text() == "not a dir"


def test_unwritable_directory_names_the_path(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere; covered by the not-a-directory case")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    p = LocalProvider()
    r = _res("file", path=str(ro / "f"), content="x")
    with pytest.raises(ProviderError, match=r"cannot write .*ro/f: permission denied"):
        p.apply(p.diff(r, None))


def test_write_failure_leaves_no_temp_files(tmp_path: Path) -> None:
    (tmp_path / "dir-in-the-way").mkdir()
    p = LocalProvider()
    r = _res("file", path=str(tmp_path / "dir-in-the-way"), content="x")
    live = p.read(r, None)
    change = p.diff(r, live)
    assert change.action is Action.UPDATE and change.diffs[0].path == "type"
    with pytest.raises(ProviderError, match="dir-in-the-way"):
        p.apply(change)
    assert sorted(os.listdir(tmp_path)) == ["_home", "dir-in-the-way"]


def test_directory_delete_needs_purge_for_foreign_content(tmp_path: Path) -> None:
    p, path = LocalProvider(), tmp_path / "d"
    live = _apply(p, _res("directory", path=str(path)))
    (path / "foreign").write_text("not ours")
    with pytest.raises(ProviderError, match=r"not empty.*driftless does not own"):
        p.apply(Change(live.id, Action.DELETE, None, live))
    assert (path / "foreign").exists()
    purge = _apply(p, _res("directory", path=str(path), purge=True), live)
    p.apply(Change(purge.id, Action.DELETE, None, purge))
    assert not path.exists()


def test_symlink_retargets_atomically_and_imports_by_path(tmp_path: Path) -> None:
    p, link = LocalProvider(), tmp_path / "current"
    live = _apply(p, _res("symlink", path=str(link), target="releases/1"))
    r2 = _res("symlink", path=str(link), target="releases/2")
    change = p.diff(r2, p.read(r2, live))
    assert change.action is Action.UPDATE and change.diffs[0].path == "target"
    p.apply(change)
    assert os.readlink(link) == "releases/2"
    imported = p.import_resource(_res("symlink", path="/elsewhere", target="?"), str(link))
    assert imported is not None and imported.attributes["target"] == "releases/2"


def test_changing_path_replaces(tmp_path: Path) -> None:
    p = LocalProvider()
    live = _apply(p, _res("file", path=str(tmp_path / "a"), content="x"))
    r2 = _res("file", path=str(tmp_path / "b"), content="x")
    change = p.diff(r2, live)
    assert change.action is Action.REPLACE and "path forces replacement" in change.reason
    p.apply(change)
    assert not (tmp_path / "a").exists() and (tmp_path / "b").read_text() == "x"


def test_unknown_content_plans_an_update_shown_as_known_after_apply(tmp_path: Path) -> None:
    from driftless.model import UNKNOWN
    p, path = LocalProvider(), tmp_path / "f"
    live = _apply(p, _res("file", path=str(path), content="x"))
    r = _res("file", path=str(path), content=UNKNOWN)
    change = p.diff(r, p.read(r, live))
    assert change.action is Action.UPDATE
    assert change.diffs[0].shown()[1] == "(known after apply)"
