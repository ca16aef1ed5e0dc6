"""Acceptance: driftless is safe to run on untrusted repositories.

For every repository of the hostile corpus (corpus.py), ``validate``, ``plan``,
``render`` and ``apply --auto-approve`` each run in their own child process
(runner.py), and every command must:

* exit 0 or 1, with no ``Traceback`` in stdout or stderr;
* finish within 10 s and stay under 500 MB peak RSS;
* read nothing outside the repository and the runtime's own files, write
  nothing outside the sandbox and the state directory, execute nothing;
* never print the case's canary (a sensitive variable's value), nor the text
  of the files outside the repository, nor /etc/passwd's.

And per repository: ``validate``, ``plan`` and ``render`` change nothing in the
sandbox; when ``validate`` fails, ``apply`` changes nothing either; the canary
is not in the state files; no ``pwned`` file appears; case-specific checks
(another application's database untouched, ...) hold.

When a command times out or is killed for memory, the later commands of that
repository are not run (they would most likely hang the same way and the
budget of the whole file is ~3 minutes); set HOSTILE_ALL_COMMANDS=1 to run
them anyway. Each failing case lists every broken assertion. Set
HOSTILE_REPORT=FILE to get a table of all failures (see conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import CASES, Case, Dirs, build
from runner import COMMANDS, TIMEOUT, CommandResult, Runner

from driftless.state.packed import inflate_all

MAX_RSS_MB = 500.0
PASSWD_TEXT = b"root:x:0:0"
ALL_COMMANDS = bool(os.environ.get("HOSTILE_ALL_COMMANDS"))


@pytest.fixture(scope="session")
def runner() -> Iterator[Runner]:
    with Runner() as r:
        yield r


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: type, mode, size and content digest."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = f"link {os.readlink(path)}"
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
                out[rel] = f"file {oct(st.st_mode & 0o7777)} {st.st_size} {digest}"
            else:
                out[rel] = f"{stat.filemode(st.st_mode)}"
    return out


def _diff(before: dict[str, str], after: dict[str, str]) -> str:
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    return ", ".join(f"{k} ({before.get(k, 'absent')} -> {after.get(k, 'absent')})"
                     for k in changed[:5]) + (" ..." if len(changed) > 5 else "")


def check_command(r: CommandResult, d: Dirs, canary: bool,
                  may_exec: str | None = None) -> list[tuple[str, str]]:
    """(assertion, detail) for every assertion command ``r`` broke."""
    bad: list[tuple[str, str]] = []
    if r.timed_out:
        bad.append(("time", f"killed after {TIMEOUT:.0f} s"))
    elif r.mem_killed:
        bad.append(("memory", f"killed at {r.peak_rss_mb:.0f} MB RSS"))
    elif r.exit_code not in (0, 1):
        bad.append(("exit code", f"exit {r.exit_code}: {r.first_line()}"))
    if r.traceback:
        bad.append(("traceback", r.first_line()))
    if not r.timed_out and r.wall > TIMEOUT:
        bad.append(("time", f"{r.wall:.1f} s"))
    if r.peak_rss_mb > MAX_RSS_MB and not r.mem_killed:
        bad.append(("memory", f"peak RSS {r.peak_rss_mb:.0f} MB"))
    for kind, label in (("read", "read outside"), ("write", "write outside"),
                        ("exec", "executed"), ("hook-error", "audit hook error")):
        found = r.of_kind(kind)
        if kind == "exec" and may_exec:  # e.g. git for a valid git_checkout; not the payload
            found = [f for f in found if not f.startswith(f"subprocess.Popen [('{may_exec}'")]
        if found:
            bad.append((label, "; ".join(found[:3]) + (" ..." if len(found) > 3 else "")))
    out = r.output
    if canary and d.canary.encode() in out:
        bad.append(("canary leaked", _around(out, d.canary.encode())))
    for text, label in ((d.marker.encode(), "outside file leaked"),
                        (PASSWD_TEXT, "/etc/passwd leaked")):
        if text in out:
            bad.append((label, _around(out, text)))
    return bad


def _around(out: bytes, needle: bytes) -> str:
    i = out.find(needle)
    line_start = out.rfind(b"\n", 0, i) + 1
    line_end = out.find(b"\n", i)
    return out[line_start:line_end if line_end >= 0 else None][:200].decode("utf-8", "replace")


def _state_bytes(path: Path) -> bytes:
    """A state file as a scanner must read it: raw, plus every deflated row inflated
    (SQLite state stores rows packed; a secret must not hide behind compression)."""
    blob = path.read_bytes()
    return blob + b"\n" + inflate_all(blob)


def _state_leaks(d: Dirs) -> list[str]:
    leaks = []
    state = d.repo / ".driftless"
    for path in sorted(state.rglob("*")) if state.is_dir() else []:
        if path.is_file() and d.canary.encode() in _state_bytes(path):
            leaks.append(str(path.relative_to(d.repo)))
    return leaks


def _pwned(d: Dirs) -> list[str]:
    return sorted(str(p.relative_to(d.case)) for p in d.case.rglob("pwned*"))


def run_case(case: Case, base: Path, runner: Runner) -> tuple[list[CommandResult],
                                                                list[tuple[str, str, str]]]:
    """Build and run one case; (results, [(command, assertion, detail)])."""
    d = build(case, base)
    variables = case.variables(d)
    environ = case.environment(d)
    env = case.environment_name(d)
    canary = case.canary or d.canary in json.dumps(environ) or any(
        d.canary in v for v in variables)
    failures: list[tuple[str, str, str]] = []
    results: list[CommandResult] = []
    start = snapshot(d.sandbox)
    before_apply = start
    for command in COMMANDS:
        if command[0] == "apply":
            before_apply = snapshot(d.sandbox)
            if before_apply != start:
                failures.append(("validate/plan/render", "sandbox changed",
                                 _diff(start, before_apply)))
        if results and (results[-1].timed_out or results[-1].mem_killed) and not ALL_COMMANDS:
            failures.append((" ".join(command), "not run",
                             f"'{results[-1].command}' was killed; HOSTILE_ALL_COMMANDS=1 "
                             "runs it anyway"))
            continue
        [result] = runner.run(d.repo, d.sandbox, d.work, variables=variables,
                              env=env, environ=environ, commands=[command])
        results.append(result)
        failures += [(result.command, a, detail) for a, detail in check_command(
            result, d, canary, case.may_exec.get(command[0]))]
    validate = results[0]
    after = snapshot(d.sandbox)
    if validate.exit_code != 0 and after != before_apply:
        failures.append(("apply", "invalid repo changed sandbox", _diff(before_apply, after)))
    if canary and _state_leaks(d) and case.id not in STATE_IN_CLEAR:
        failures.append(("*", "canary in state", ", ".join(_state_leaks(d))))
    if _pwned(d):
        failures.append(("*", "payload ran", ", ".join(_pwned(d))))
    for check in case.checks:
        failures += [("*", "case check", text) for text in check(d)]
    return results, failures


# Attributes that *are* a secret-derived identity (a file's path) are still stored in
# state: destroy needs them to find the object. Encrypted state attributes are the fix
# (issue 10); until then these cases are held to every other rule, and the strict
# xfail below turns red the day state stops holding them in clear.
STATE_IN_CLEAR = {"secret-prop-path": "a path built from a secret is kept in state"}


@pytest.mark.xfail(strict=True, reason="issue 10: secret-derived paths are kept in state")
@pytest.mark.parametrize("case_id", sorted(STATE_IN_CLEAR))
def test_known_gap_secret_derived_identity_in_state(
        case_id: str, runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> None:
    [case] = [c for c in CASES if c.id == case_id]
    base = tmp_path_factory.mktemp(case.id[:40], numbered=True)
    run_case(case, base, runner)
    leaks = [p for p in (base.rglob(".driftless/*")) if p.is_file()
             and b"CANARY-" in _state_bytes(p)]
    assert not leaks


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_repository(case: Case, runner: Runner,
                            tmp_path_factory: pytest.TempPathFactory,
                            request: pytest.FixtureRequest) -> None:
    base = tmp_path_factory.mktemp(case.id[:40], numbered=True)
    results, failures = run_case(case, base, runner)
    _record(request, case, results, failures)
    if failures:
        lines = [f"{case.id}: {len(failures)} assertion(s) broken (files in {base})"]
        lines += [f"  [{cmd}] {what}: {detail}" for cmd, what, detail in failures]
        lines += [f"  ({r.command}: exit {r.exit_code}, {r.wall:.2f} s, {r.peak_rss_mb:.0f} MB)"
                  for r in results]
        pytest.fail("\n".join(lines), pytrace=False)


def _record(request: pytest.FixtureRequest, case: Case, results: list[CommandResult],
            failures: list[tuple[str, str, str]]) -> None:
    """Leave the outcome where conftest.py's report collects it (HOSTILE_REPORT)."""
    report = os.environ.get("HOSTILE_REPORT")
    if not report:
        return
    folder = Path(report + ".d")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{hashlib.sha256(case.id.encode()).hexdigest()[:16]}.json").write_text(json.dumps({
        "id": case.id,
        "failures": failures,
        "commands": [{"command": r.command, "exit": r.exit_code, "wall": round(r.wall, 2),
                      "rss_mb": round(r.peak_rss_mb), "first_line": r.first_line()}
                     for r in results],
    }))


def test_harness_sees_exec_reads_and_memory(runner: Runner, tmp_path: Path) -> None:
    """The harness itself: a valid local:command is seen executing in apply only, and a
    local:file copying a file outside the repository (which the operator allowed with
    DRIFTLESS_ALLOW_READ) is seen reading it."""
    files = {"driftless.yaml": "project: selftest\nstacks: [stacks/app]\n",
             "stacks/app/stack.yaml": (
                 "resources:\n  c:\n    type: local:command\n"
                 "    properties: {command: [\"true\"]}\n"
                 "  f:\n    type: local:file\n"
                 "    properties: {path: \"@SANDBOX@/copy\", source: \"@OUTSIDE@/secret.txt\"}\n")}
    d = build(Case("selftest", files), tmp_path)
    environ = {"DRIFTLESS_ALLOW_READ": str(d.outside)}
    results = {r.command.split()[0]: r
               for r in runner.run(d.repo, d.sandbox, d.work, environ=environ)}
    assert results["validate"].exit_code == 0, results["validate"].first_line()
    assert not results["validate"].of_kind("exec")
    assert results["apply"].of_kind("exec"), results["apply"].findings
    assert any("secret.txt" in f for f in results["apply"].of_kind("read"))
    assert all(0 < r.peak_rss_mb < MAX_RSS_MB for r in results.values())
