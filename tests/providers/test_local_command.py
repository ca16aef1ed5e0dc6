"""local:command with real processes: guards, triggers, failures, timeouts, secrets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from driftless.errors import ProviderError
from driftless.model import Action, Change, LiveResource, Resource, ResourceId, Sensitive
from driftless.providers.local import LocalProvider

RID = ResourceId("local", "command", "setup")
OTHER = ResourceId("local", "template", "conf")


def _res(**props: Any) -> Resource:
    return Resource(RID, props)


def _apply(p: LocalProvider, r: Resource, prior: LiveResource | None = None) -> LiveResource:
    live = p.apply(p.diff(r, p.read(r, prior)))
    assert live is not None
    return live


def _runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_runs_once_then_reruns_on_trigger_change_and_triggered_by(tmp_path: Path) -> None:
    p, log = LocalProvider(), tmp_path / "log"
    r = _res(command=f"echo run >> {log}; echo out", triggers={"v": 1})
    live = _apply(p, r)
    assert _runs(log) == 1 and live.attributes["stdout"] == "out"
    assert live.attributes["exit_code"] == 0
    assert p.diff(r, p.read(r, live)).action is Action.NOOP
    r2 = _res(command=f"echo run >> {log}; echo out", triggers={"v": 2})
    live = _apply(p, r2, live)
    assert _runs(log) == 2
    rerun = Change(RID, Action.UPDATE, r2, live, triggered_by=(OTHER,))
    p.apply(rerun)
    assert _runs(log) == 3


def test_argv_list_env_and_cwd(tmp_path: Path) -> None:
    p = LocalProvider()
    live = _apply(p, _res(command=["sh", "-c", 'echo "$GREETING from $(pwd)"'],
                          env={"GREETING": "hi"}, cwd=str(tmp_path)))
    assert live.attributes["stdout"] == f"hi from {tmp_path}"


def test_creates_guard_skips_and_missing_creates_plans_a_rerun(tmp_path: Path) -> None:
    p, log, made = LocalProvider(), tmp_path / "log", tmp_path / "made"
    r = _res(command=f"echo run >> {log}; touch {made}", creates=str(made))
    live = _apply(p, r)
    assert _runs(log) == 1 and made.exists()
    assert p.diff(r, p.read(r, live)).action is Action.NOOP
    made.unlink()
    change = p.diff(r, p.read(r, live))
    assert change.action is Action.UPDATE and "does not exist" in change.reason
    p.apply(change)
    assert _runs(log) == 2
    skipped = p.apply(Change(RID, Action.UPDATE, r, live, triggered_by=(OTHER,)))
    assert _runs(log) == 2 and skipped is not None and "exists" in skipped.attributes["skipped"]


def test_unless_and_onlyif_guards(tmp_path: Path) -> None:
    p, log = LocalProvider(), tmp_path / "log"
    _apply(p, _res(command=f"echo run >> {log}", unless="true"))
    _apply(p, _res(command=f"echo run >> {log}", onlyif="false"))
    assert _runs(log) == 0
    _apply(p, _res(command=f"echo run >> {log}", unless="false", onlyif="true"))
    assert _runs(log) == 1


def test_nonzero_exit_names_code_and_stderr_tail() -> None:
    p = LocalProvider()
    r = _res(command="echo first >&2; echo boom >&2; exit 3")
    with pytest.raises(ProviderError) as err:
        p.apply(p.diff(r, None))
    msg = str(err.value)
    assert msg.startswith("local:command/setup: command exited with code 3")
    assert msg.rstrip().endswith("boom")


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    p, late = LocalProvider(), tmp_path / "late"
    r = _res(command=f"(sleep 1; touch {late}) & sleep 30", timeout=0.3)
    start = time.monotonic()
    with pytest.raises(ProviderError, match=r"timed out after 0.3s and was killed") as err:
        p.apply(p.diff(r, None))
    assert time.monotonic() - start < 5 and err.value.retryable
    time.sleep(1.2)
    assert not late.exists()  # the background child died with its group


def test_secret_env_never_reaches_attributes_diffs_or_errors() -> None:
    p = LocalProvider()
    r = _res(command='echo "token=$TOKEN"; echo "bad $TOKEN" >&2; exit 1',
             env={"TOKEN": Sensitive("s3cr3t-value")})
    with pytest.raises(ProviderError) as err:
        p.apply(p.diff(r, None))
    assert "s3cr3t-value" not in str(err.value) and "(sensitive)" in str(err.value)
    ok = _res(command='echo "token=$TOKEN"', env={"TOKEN": Sensitive("s3cr3t-value")})
    live = _apply(p, ok)
    assert "s3cr3t-value" not in repr(live)
    assert live.attributes["stdout"] == "token=(sensitive)"
    moved = _res(command='echo "token=$TOKEN"', env={"TOKEN": Sensitive("new-value")})
    change = p.diff(moved, live)
    assert change.action is Action.UPDATE and change.diffs[0].shown()[1] == "(sensitive)"


def test_delete_runs_on_delete_only_when_given(tmp_path: Path) -> None:
    p, log = LocalProvider(), tmp_path / "log"
    live = _apply(p, _res(command="true"))
    p.apply(Change(RID, Action.DELETE, None, live))
    live = _apply(p, _res(command="true", on_delete=f"echo undo >> {log}"))
    p.apply(Change(RID, Action.DELETE, None, live))
    assert log.read_text() == "undo\n"


def test_missing_program_is_a_clear_error() -> None:
    p = LocalProvider()
    r = _res(command=["/nonexistent/prog"])
    with pytest.raises(ProviderError, match="cannot start command: no such file"):
        p.apply(p.diff(r, None))
