"""Acceptance test of issue 10: a secret never leaks, whatever path it comes in by.

A fresh canary ``CANARY-<hex>`` per input path (``--var``, a values file, an
environment file, ``DRIFTLESS_VAR_*``, a SOPS file, ``${secret.env|file|cmd:...}``)
flows into files, templates, env files, a command (text and env), a failing service
(env and log), AWS tags and user data (moto) and outputs. After the whole CLI flow
(sqlite and s3 state), an agent run from a git server, and a kill -9 in the middle
of an apply, each canary must be found only in its own input and in the targets the
user asked to write: not in any process output, state file, journal, plan file,
agent store, log, temp file or S3 object version. The failure message names which
input path leaked where.

Real processes throughout: the CLI and the agent as subprocesses, a moto server,
git over HTTP, supervised services.
"""

from __future__ import annotations

import base64
import binascii
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pyrage
import pytest
from canary_helpers import (
    ALL_PATHS,
    FULL_KINDS,
    KILL_KINDS,
    REGION,
    Cli,
    Scenario,
    first_error,
    parse_addresses,
    s3_versions,
)

from driftless.state.packed import pack
from gitserver import Workdir, git_http_server, init_bare
from servers import free_port, moto_server

ADMIN = "canary-admin-token"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("canary-moto")) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh_aws(request: pytest.FixtureRequest) -> None:
    """Each scenario starts with an empty moto: the buckets and instances an earlier
    scenario created (same names, same address tags) would otherwise be found as
    objects that exist but are not managed, and apply rightly refuses those."""
    if "moto" in request.fixturenames:
        url = request.getfixturevalue("moto")
        httpx.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()


@pytest.fixture(scope="module")
def age_key() -> tuple[str, str]:
    """An age identity made for this module: (secret key, recipient)."""
    ident = pyrage.x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def _client(moto: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=moto, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _scenario(root: Path, name: str, moto: str, age_key: tuple[str, str],
              **kw: Any) -> Scenario:
    return Scenario(root / name, name, moto, age_key[0], age_key[1], **kw)


def _parallel(cli: Cli, commands: list[list[str]], *, expect: int | None = 0,
              project: bool = True) -> None:
    """Read-only commands, two at a time (each is a fresh Python process)."""
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda args: cli.run(*args, expect=expect, project=project), commands))


def _prepare(sc: Scenario, cli: Cli, *, tail: str,
             kinds: tuple[str, ...] = FULL_KINDS) -> list[str]:
    """Write inputs and project; the input paths that render. When the whole project
    does not render, each path's stack is rendered alone with only its own input:
    a path that fails is a failure of the test, and the flow goes on with the
    others (and ``tail`` over them), so the search still covers what works."""
    sc.write_operator_inputs()
    sc.write_value_files(cli)
    key = {"zz_services": "services", "zz_slow": "slow"}[tail]
    sc.write_project(kinds=kinds, **{key: ALL_PATHS})
    if cli.run("render", "--json", *_args(sc, list(ALL_PATHS))).returncode == 0:
        return list(ALL_PATHS)

    def render(path: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        return path, cli.run("render", path, "--env", "canary", *sc.args_for(path),
                             expect=None)

    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(render, ALL_PATHS))
    for path, proc in done:
        if proc.returncode != 0:
            sc.scan.problems.append(
                f"stack '{path}' ({sc.scan.label(path)}) does not render: "
                f"{sc.scan.redact(first_error(proc.stderr + proc.stdout))}")
    working = [path for path, proc in done if proc.returncode == 0]
    sc.write_project(kinds=kinds, **{key: working})
    return working


def _args(sc: Scenario, paths: list[str], *, tail: str | None = None) -> list[str]:
    """Options giving the secrets of ``paths``; when that is not every path, also
    ``--stack`` for each of them and for the ``tail`` stack."""
    out = ["--env", "canary"]
    for path in paths:
        out += sc.args_for(path)
    if tail and set(paths) != set(ALL_PATHS):
        for stack in (*paths, tail):
            out += ["--stack", stack]
    return out


def _cli_flow(sc: Scenario, cli: Cli, *, main: bool) -> None:
    """The CLI in the order a user runs it. Commands that read or write state run
    with both backends; the others (validate, render, text forms already run with
    the other backend, status, history) run once, in the ``main`` flow."""
    working = _prepare(sc, cli, tail="zz_services")
    full, sel = _args(sc, list(ALL_PATHS)), _args(sc, working, tail="zz_services")
    plan_file = sc.project / "plan.json"
    if main:
        _parallel(cli, [["validate", *full], ["validate", "--json", *full], ["render", *full]])
        cli.run("plan", *sel)
    cli.run("plan", "--json", *sel)
    cli.run("plan", "--out", str(plan_file), *sel)
    if plan_file.exists():
        sc.scan.text("plan file plan.json", plan_file.read_bytes())
    else:
        sc.scan.problems.append("plan --out wrote no plan file")
    # the services fail on purpose, so every apply exits 1: what matters is its output
    cli.run("apply", str(plan_file), *sel, expect=None)
    cli.run("apply", "--auto-approve", *(["--json"] if main else []), *sel, expect=None)
    cli.run("plan", *(["--json"] if main else []), *sel)
    _state_commands(cli, show=main)
    cli.run("refresh", *sel)
    cli.run("output", "--json")
    if main:
        _parallel(cli, [["refresh", "--json", *sel], ["output"]])
        # no agent store in a CLI-only project: whatever they say, it must not leak
        _parallel(cli, [["status"], ["status", "--json"],
                        ["history", "zz_services"], ["history", "--json", "zz_services"]],
                  expect=None)


def _state_commands(cli: Cli, *, show: bool = True) -> None:
    """``state list``, ``state pull`` of every stack and ``state show`` of one address
    per stack, cycling through the kinds, so every path and every kind is shown."""
    rows = parse_addresses(cli.run("state", "list", "--json").stdout)
    if not rows:
        cli.sc.scan.problems.append("`state list --json` lists no resource after apply")
    stacks = sorted({s for s, _ in rows})
    commands = [["state", "pull", s] for s in stacks]
    if show:
        for i, stack in enumerate(stacks):
            addrs = sorted(a for s, a in rows if s == stack)
            commands.append(["state", "show", addrs[i % len(addrs)]])
    _parallel(cli, commands)


def _verdict(sc: Scenario, *, kinds: tuple[str, ...] = FULL_KINDS, moto: str | None = None,
             extra_inputs: tuple[Path, ...] = ()) -> None:
    sc.scan.tree(sc.root, allowed=sc.allowed(extra_inputs),
                 name=lambda p: str(p.relative_to(sc.root)))
    s3 = _client(moto, "s3") if moto else None
    ec2 = _client(moto, "ec2") if moto else None
    sc.check_targets(kinds, s3=s3, ec2=ec2)
    report = sc.scan.report()
    print(report)
    assert sc.scan.ok(), report


def test_cli_flow_with_sqlite_state(moto: str, age_key: tuple[str, str],
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    sc = _scenario(tmp_path_factory.mktemp("canary"), "sqlite", moto, age_key)
    cli = Cli(sc)
    _cli_flow(sc, cli, main=True)
    _verdict(sc, moto=moto)


def test_cli_flow_with_s3_state(moto: str, age_key: tuple[str, str],
                                tmp_path_factory: pytest.TempPathFactory) -> None:
    bucket = f"canary-state-{os.urandom(4).hex()}"
    s3 = _client(moto, "s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    url = f"s3://{bucket}/canary/state?region={REGION}&endpoint={moto}"
    sc = _scenario(tmp_path_factory.mktemp("canary"), "s3", moto, age_key, state_url=url)
    cli = Cli(sc)
    _cli_flow(sc, cli, main=False)
    versions = list(s3_versions(s3, bucket))
    if not versions:
        sc.scan.problems.append(f"the state bucket {bucket} holds no object after apply")
    for key, body in versions:
        sc.scan.text(f"S3 state object s3://{bucket}/{key}", body)
    _verdict(sc, moto=moto)


def test_agent_from_git(moto: str, age_key: tuple[str, str],
                        tmp_path_factory: pytest.TempPathFactory) -> None:
    sc = _scenario(tmp_path_factory.mktemp("canary"), "agent", moto, age_key)
    # the agent takes no --var / --var-file: those stacks get their secret from
    # DRIFTLESS_VAR_* here, with their own canaries
    stand_in = ("cli", "varfile", "sops")
    for path in stand_in:
        sc.scan.labels[path] = (f"DRIFTLESS_VAR_s_{path} "
                                f"(agent; stands in for {sc.scan.label(path)})")
    cli = Cli(sc, var_paths=("envvar", *stand_in))
    sc.write_operator_inputs()
    init_bare(sc.root / "srv", "app.git")
    agent_dir = sc.root / "agent"
    with git_http_server(sc.root / "srv") as base:
        wd = Workdir.clone(f"{base}/app.git", sc.project)
        wd.write(sc.project_files(services=ALL_PATHS)).commit("canary project").push()
        head = wd.head()
        _run_agent(sc, cli, f"{base}/app.git", agent_dir, head)
    where = ["--state-dir", str(agent_dir)]
    # every stack's history is read through the API above; the CLI's forms here
    _parallel(cli, [["status", *where], ["status", "--json", *where],
                    ["history", "zz_services", *where], ["history", "ref_cmd", *where],
                    ["history", "--json", "zz_services", *where]], project=False)
    checkouts = tuple(p for p in sc.root.rglob("canary.yaml") if p.parent.name == "environments")
    _verdict(sc, moto=moto, extra_inputs=checkouts)


def _run_agent(sc: Scenario, cli: Cli, url: str, agent_dir: Path, head: str) -> None:
    port = free_port()
    env = {**cli.env, "DRIFTLESS_ADMIN_TOKEN": ADMIN,
           "DRIFTLESS_WEBHOOK_SECRET": "canary-hook-secret"}
    args = ["agent", "--source", url, "--env", "canary", "--listen", f"127.0.0.1:{port}",
            "--state-dir", str(agent_dir), "--interval", "3600", "--drift-interval", "3600"]
    api = f"http://127.0.0.1:{port}"
    with (sc.root / "agent.log").open("wb") as log:
        proc = subprocess.Popen(cli.argv(*args, project=False), env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=sc.root)
        try:
            _wait_reconciled(sc, proc, api, head)
            _read_api(sc, api)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                sc.scan.problems.append("the agent did not stop within 20 s of SIGTERM")


def _get(api: str, path: str) -> httpx.Response:
    return httpx.get(api + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=5)


def _wait_reconciled(sc: Scenario, proc: subprocess.Popen[bytes], api: str, head: str) -> None:
    """Until every stack was tried at ``head`` (applied, failed or stalled)."""
    deadline, last = time.monotonic() + 45, {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sc.scan.problems.append(f"the agent exited with {proc.returncode}")
            return
        try:
            docs = _get(api, "/api/v1/stacks").json().get("stacks", [])
        except (httpx.HTTPError, ValueError):
            docs = []
        last = {d["stack"]: d for d in docs}
        if all(head in (d.get("attempted"), d.get("revision"), d.get("stalled_revision"))
               for d in (last.get(p, {}) for p in (*ALL_PATHS, "zz_services"))):
            return
        time.sleep(0.2)
    waiting = [p for p in (*ALL_PATHS, "zz_services") if head not in (
        last.get(p, {}).get("attempted"), last.get(p, {}).get("stalled_revision"))]
    sc.scan.problems.append(f"the agent did not reconcile {waiting} within 45 s")


def _read_api(sc: Scenario, api: str) -> None:
    paths = ["/api/v1/stacks", "/metrics", "/readyz", "/healthz"]
    for stack in (*ALL_PATHS, "zz_services"):
        paths += [f"/api/v1/stacks/{stack}", f"/api/v1/stacks/{stack}/history?limit=50"]
    for path in paths:
        resp = _get(api, path)
        sc.scan.text(f"agent API GET {path}", resp.content)
        if resp.status_code >= 400 and path != "/readyz":
            sc.scan.problems.append(f"agent API GET {path} answered {resp.status_code}")


def test_kill9_mid_apply_then_recover(moto: str, age_key: tuple[str, str],
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    sc = _scenario(tmp_path_factory.mktemp("canary"), "kill9", moto, age_key)
    cli = Cli(sc)
    working = _prepare(sc, cli, tail="zz_slow", kinds=KILL_KINDS)
    assert working, sc.scan.report()  # nothing renders: no apply to kill
    sel = _args(sc, working, tail="zz_slow")
    mark = sc.root / "slow.pid"
    proc = cli.popen("apply", "--auto-approve", *sel)
    deadline = time.monotonic() + 40
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # let the pid land in the file
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    cli.record(["apply", "--auto-approve", "(killed with SIGKILL)"], out, err, proc.returncode,
               None)
    if not mark.exists():
        sc.scan.problems.append("the slow command never started, so apply was not killed "
                                f"mid-way: {sc.scan.redact(first_error(err + out))}")
    else:
        _kill_sleeper(mark)
    if not list((sc.project / ".driftless").glob("state.db*")):
        sc.scan.problems.append("no .driftless/state.db to search right after kill -9")
    sc.scan.tree(sc.project / ".driftless", allowed=lambda p: (),
                 name=lambda p: f".driftless/{p.relative_to(sc.project / '.driftless')} "
                                "(right after kill -9)")
    cli.run("apply", "--auto-approve", *sel)  # finds the interrupted intents, recovers
    cli.run("plan", *sel)
    _parallel(cli, [["state", "pull", "zz_slow"], ["state", "show", "local:command/slow"]])
    _verdict(sc, kinds=KILL_KINDS)


def _kill_sleeper(mark: Path) -> None:
    """The slow command's ``sleep`` (started by this test, pid in the mark file)."""
    try:
        pid = int(mark.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"sleep" in cmdline:
        os.kill(pid, signal.SIGKILL)


def test_the_search_itself_finds_canaries(tmp_path: Path) -> None:
    """The search is not blind: a canary in clear, base64 (any alignment) or hex, in
    a state file, in a supervisor line of a service log or in another path's target
    is found; in its own input or target, or in a service's own log lines, it is not."""
    sc = Scenario(tmp_path / "self", "self-test", "http://127.0.0.1:9", "key", "age1x")
    cli, var = sc.canaries["cli"], sc.canaries["varfile"].encode()
    (sc.project / ".driftless").mkdir()
    files = {
        sc.project / ".driftless" / "state.db": b"\0\1" + base64.b64encode(b"ab" + var + b"z")
        + pack(f'{{"inputs":{{"token":"{sc.canaries["envfile"]}"}}}}'),  # a packed row
        sc.services / "web" / "supervisor.json": binascii.hexlify(var),
        sc.out / "cli" / "file.txt": f"file {cli} {sc.canaries['sops']}\n".encode(),
        sc.out / "cli" / "svc.log": f"svc-env {cli}\n[driftless t] argv {cli}\n".encode(),
        sc.out / "envvar" / "svc.log": f"a {sc.canaries['envvar']}\nb {sc.canaries['ref_cmd']}\n"
                                       .encode(),
        sc.values_file: var,
        sc.env_file: f"variables: {{s_envfile: {sc.canaries['envfile']}}}".encode(),
    }
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    sc.scan.tree(sc.root, allowed=sc.allowed(), name=lambda p: str(p.relative_to(sc.root)))
    sc.scan.text("stdout of `driftless plan`", f"token: {cli}")
    found = {path: [p.split(":")[0] for p in places] for path, places in sc.scan.leaks.items()}
    assert found == {
        "cli": ["out/cli/svc.log (supervisor lines)", "stdout of `driftless plan`"],
        "varfile": ["file project/.driftless/state.db (base64)",
                    "file services/web/supervisor.json (hex)"],
        "sops": ["file out/cli/file.txt"],
        "envfile": ["file project/.driftless/state.db"],
        "ref_cmd": ["out/envvar/svc.log (service lines)"]}, sc.scan.report()
