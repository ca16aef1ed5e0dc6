"""``make demo``: the quickstart, run by the agent from a local git repository.

I/O: creates ./demo-work/ (a git repository copied from examples/quickstart
on first run, the agent's state directory, the service's files), starts the
agent as a subprocess, waits until the web service is Healthy, prints the
status, then stops the agent and removes what it deployed (the service, its
files) — unless ``--keep-running`` or ``DEMO_KEEP=1`` leaves both up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from driftless.agent import AgentStore, StackStatus, default_store_path
from driftless.cli.agent_cmd import status_table
from driftless.cli.output import console

__all__ = ["main"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
STACK = "web"


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port on 127.0.0.1")


def _git(*args: str, cwd: Path) -> None:
    ident = ["-c", "user.name=driftless demo", "-c", "user.email=demo@driftless.invalid"]
    subprocess.run(["git", *ident, *args], cwd=cwd, check=True, capture_output=True)


def make_repo(work: Path) -> Path:
    """demo-work/repo: a git repository holding the quickstart (first run only)."""
    repo = work / "repo"
    if (repo / ".git").exists():
        return repo
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".driftless", "__pycache__"))
    _git("init", "-q", "-b", "main", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", "quickstart", cwd=repo)
    return repo


def _env(work: Path, port: int) -> dict[str, str]:
    return {**os.environ, "DRIFTLESS_VAR_base_dir": str(work / "run"),
            "DRIFTLESS_VAR_port": str(port)}


def start_agent(repo: Path, state: Path, env: dict[str, str], api_port: int,
                ) -> subprocess.Popen[bytes]:
    """The agent on the local repository, polling every 2 s."""
    log = (state.parent / "agent.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "driftless", "agent", "--source", str(repo),
         "--state-dir", str(state), "--listen", f"127.0.0.1:{api_port}",
         "--interval", "2", "--drift-interval", "30"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(store: AgentStore, proc: subprocess.Popen[bytes], *,
                 timeout: float) -> StackStatus | None:
    """The stack's status once Healthy and Synced; None on timeout or agent exit."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        st = store.status(STACK)
        if st.health == "Healthy" and st.sync == "Synced":
            return st
        if st.stalled:
            return None
        time.sleep(0.2)
    return None


def stop_agent(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then wait; SIGKILL only if it does not stop in 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def remove_deployment(repo: Path, state: Path) -> None:
    """Destroy what the agent deployed (stops the service), under the stack lock."""
    from driftless.engine import Engine
    from driftless.providers import ProviderSet
    from driftless.render import RenderOptions, load_project, render_stack
    from driftless.state import open_backend
    from driftless.state.lease import hold_lock

    project = load_project(repo)
    desired = render_stack(project, STACK, RenderOptions())
    backend = open_backend(project.state_url, root=state)
    providers = ProviderSet(project.provider_config(None))
    try:
        with hold_lock(backend, STACK, operation="demo cleanup", wait=30.0):
            engine = Engine(providers=providers, backend=backend)
            engine.apply(engine.plan(desired, destroy=True), desired)
    finally:
        providers.close()
        backend.close()


def _explain(st: StackStatus, store: AgentStore, work: Path, port: int, keep: bool) -> None:
    """What to look at, and (only while it keeps running) how to change it: every
    command printed works as written, from any directory, with no git identity set."""
    console.print(status_table([st]))
    console.print(f"\nThe page:        http://127.0.0.1:{port}/")
    console.print(f"Agent status:    {store.meta('url')}/api/v1/stacks")
    if not keep:
        console.print("\nThe demo stops now. To keep it running and change it by committing, run:"
                      "\n  DEMO_KEEP=1 make demo")
        return
    cli = Path(sys.executable).with_name("driftless")
    ident = "-c user.name=demo -c user.email=demo@example.invalid"
    console.print("\nChange the system by committing (the agent polls every 2 s):")
    stack = work / "repo" / "stacks" / "web" / "stack.yaml"
    console.print(f"  sed -i 's/Hello from driftless/Hi from git/' {stack}")
    console.print(f"  git -C {work}/repo {ident} commit -qam 'new greeting'")
    console.print(f"  {cli} status --state-dir {work}/agent")
    console.print(f"  curl -s http://127.0.0.1:{port}/")


def stop_kept(work: Path) -> int:
    """``--stop``: end a demo started with ``DEMO_KEEP=1`` (agent, service, files)."""
    pid_file = work / "agent.pid"
    if not pid_file.exists():
        console.print(f"no demo is running from {work} (no {pid_file})")
        return 1
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    _wait_gone(int(pid_file.read_text()), timeout=20)
    pid_file.unlink()
    remove_deployment(work / "repo", work / "agent")
    console.print("demo stopped: agent ended, service stopped and its files removed.")
    return 0


def _wait_gone(pid: int, *, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit 0 when the service came up Healthy."""
    parser = argparse.ArgumentParser(prog="python -m driftless.demo")
    parser.add_argument("--keep-running", action="store_true",
                        default=os.environ.get("DEMO_KEEP") == "1")
    parser.add_argument("--work", type=Path, default=Path("demo-work"))
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--stop", action="store_true",
                        help="stop a demo left running and remove what it deployed")
    args = parser.parse_args(argv)
    work: Path = args.work.resolve()
    if args.stop:
        return stop_kept(work)
    work.mkdir(parents=True, exist_ok=True)
    repo, state = make_repo(work), work / "agent"
    port = _free_port(8080)
    env = _env(work, port)
    os.environ.update({k: env[k] for k in ("DRIFTLESS_VAR_base_dir", "DRIFTLESS_VAR_port")})
    console.print(f"driftless demo: git repository {repo}, agent state {state}")
    proc = start_agent(repo, state, env, _free_port(8765))
    store = AgentStore(default_store_path(state))
    st = wait_healthy(store, proc, timeout=args.timeout)
    if st is not None:
        _explain(st, store, work, port, args.keep_running)
    else:
        console.print(status_table(store.statuses()))
        console.print(f"the service did not become Healthy; see {work}/agent.log")
    if args.keep_running and st is not None:
        (work / "agent.pid").write_text(f"{proc.pid}\n")
        console.print(f"\nThe agent (pid {proc.pid}) and the service keep running. Stop both "
                      f"and remove the files with:\n  {sys.executable} -m driftless.demo --stop "
                      f"--work {work}")
        return 0
    stop_agent(proc)
    remove_deployment(repo, state)
    console.print("demo stopped: agent ended, service stopped and its files removed.")
    return 0 if st is not None else 1


if __name__ == "__main__":
    sys.exit(main())
