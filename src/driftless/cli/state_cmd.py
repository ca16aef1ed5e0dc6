"""``driftless state ...``: inspect and repair state by hand, under the lock."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from driftless.cli.context import Context, project_context
from driftless.cli.options import DirOpt, JsonOpt, StackOpt
from driftless.cli.output import console, err_console, guard, print_json
from driftless.cli.plain import escape
from driftless.errors import ConfigError, StateError
from driftless.model import LockInfo, ResourceId, ResourceState, StateSnapshot
from driftless.plan import import_command, import_id_of
from driftless.state.base import KeepsHistory, no_history
from driftless.state.lease import hold_lock

if TYPE_CHECKING:
    from driftless.state.encrypted import EncryptedBackend

__all__ = ["register", "state_app"]

state_app = typer.Typer(help="Inspect and edit state: list, show, rm, mv, unprotect, unlock, "
                             "history, restore, rekey.",
                        no_args_is_help=True)

AddressArg = Annotated[str, typer.Argument(help="Resource address, e.g. aws:s3.Bucket/models")]


def _address(text: str) -> ResourceId:
    try:
        return ResourceId.parse(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _find(ctx: Context, rid: ResourceId) -> tuple[str, StateSnapshot]:
    for name in ctx.backend.stacks():
        snap = ctx.backend.read(name)
        if rid in snap.resources:
            return name, snap
    raise ConfigError(f"{rid} is not in state", hint="list managed resources: driftless state list")


def _edit(ctx: Context, rid: ResourceId, op: str,
          change: Callable[[dict[ResourceId, ResourceState]], object]) -> str:
    name, _ = _find(ctx, rid)
    with hold_lock(ctx.backend, name, operation=f"state {op}"):
        snap = ctx.backend.read(name)
        resources = dict(snap.resources)
        change(resources)
        ctx.backend.write(name, snap.next(resources))
    return name


@state_app.command("list")
def list_(directory: DirOpt = None, stack: StackOpt = None, as_json: JsonOpt = False) -> None:
    """List managed resources. Example: driftless state list --json"""
    with guard(), project_context(directory=directory, env=None) as ctx:
        names = stack or ctx.backend.stacks()
        rows = [(n, rid, st.protect) for n in names
                for rid, st in sorted(ctx.backend.read(n).resources.items())]
    if as_json:
        print_json([{"stack": n, "address": str(r), "protect": p} for n, r, p in rows])
        return
    for n, rid, protect in rows:
        console.print(f"{escape(n)}\t{escape(str(rid))}" + ("\t(protected)" if protect else ""))


@state_app.command()
def show(address: AddressArg, directory: DirOpt = None, as_json: JsonOpt = False) -> None:
    """Show one resource's recorded attributes. Example: driftless state show local:file/motd"""
    with guard(), project_context(directory=directory, env=None) as ctx:
        rid = _address(address)
        name, snap = _find(ctx, rid)
        st = snap.resources[rid]
    doc = {"stack": name, "address": str(rid), "protect": st.protect,
           "attributes": dict(st.attributes), "depends_on": [str(d) for d in st.depends_on]}
    if as_json:
        print_json(doc)
        return
    console.print(f"[bold]{escape(str(rid))}[/]  (stack {escape(name)}"
                  + (", protected)" if st.protect else ")"))
    for key, value in sorted(st.attributes.items()):
        console.print(f"  {escape(key)} = {escape(repr(value))}")


@state_app.command()
def rm(address: AddressArg, directory: DirOpt = None) -> None:
    """Forget a resource without deleting it. Example: driftless state rm local:file/old"""
    with guard(), project_context(directory=directory, env=None) as ctx:
        rid = _address(address)
        _, snap = _find(ctx, rid)
        attrs = dict(snap.resources[rid].attributes)
        name = _edit(ctx, rid, "rm", lambda res: res.pop(rid))
    console.print(f"removed {rid} from stack '{name}' state (the object itself was not touched)")
    err_console.print(escape(_left_in_place(rid, attrs)))


def _left_in_place(rid: ResourceId, attrs: dict[str, object]) -> str:
    """The warning after ``state rm``: the object stays, and while it is declared
    the next apply refuses it; name it and say how to take it back."""
    what = import_id_of(rid, attrs)
    return (f"warning: {rid} ({what}) still exists and is no longer managed: plan shows it "
            f"as 'exists, not managed' and apply refuses it while it is declared; "
            f"bring it back with: {import_command(rid, attrs)}, or plan/apply with --adopt")


@state_app.command()
def mv(source: AddressArg, destination: AddressArg, directory: DirOpt = None) -> None:
    """Rename a resource in state. Example: driftless state mv local:file/a local:file/b"""
    with guard(), project_context(directory=directory, env=None) as ctx:
        src, dst = _address(source), _address(destination)
        if src.type != dst.type:
            raise ConfigError(f"cannot move {src} to {dst}: the kinds differ")

        def move(res: dict[ResourceId, ResourceState]) -> None:
            if dst in res:
                raise ConfigError(f"{dst} is already in state")
            st = res.pop(src)
            res[dst] = ResourceState(dst, st.attributes, st.private, st.inputs, st.protect,
                                     st.depends_on)
        name = _edit(ctx, src, "mv", move)
    console.print(f"moved {src} -> {dst} in stack '{name}'")


def _set_protect(address: str, directory: Path | None, value: bool) -> None:
    with guard(), project_context(directory=directory, env=None) as ctx:
        rid = _address(address)

        def flip(res: dict[ResourceId, ResourceState]) -> None:
            st = res[rid]
            res[rid] = ResourceState(rid, st.attributes, st.private, st.inputs, value,
                                     st.depends_on)
        _edit(ctx, rid, "protect" if value else "unprotect", flip)
    console.print(f"{rid} is {'now' if value else 'no longer'} protected")


@state_app.command()
def unprotect(address: AddressArg, directory: DirOpt = None) -> None:
    """Allow deleting a protected resource.

    Example: driftless state unprotect aws:s3.Bucket/models
    """
    _set_protect(address, directory, False)


@state_app.command()
def protect(address: AddressArg, directory: DirOpt = None) -> None:
    """Refuse deleting a resource, even once removed from config.

    Example: driftless state protect aws:s3.Bucket/models
    """
    _set_protect(address, directory, True)


@state_app.command()
def unlock(
    stack: Annotated[str, typer.Argument(help="The locked stack.")],
    directory: DirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Release whoever holds it.")] = False,
) -> None:
    """Release a stack's lock. Example: driftless state unlock infra --force"""
    with guard(), project_context(directory=directory, env=None) as ctx:
        info = ctx.backend.lock_info(stack)
        if info is None:
            console.print(f"stack '{stack}' is not locked")
            return
        if not force and not info.expired():
            raise StateError(f"stack '{stack}' is locked by {info.describe()} "
                             f"for {info.age_seconds():.0f}s and its lease has not expired",
                             hint=f"take it over: driftless state unlock {stack} --force")
        ctx.backend.unlock(stack, info.id, force=True)
        if not info.expired():
            _record_takeover(ctx, stack, info)
    console.print(f"unlocked stack '{stack}' (was held by {info.describe()})")


def _record_takeover(ctx: Context, stack: str, info: LockInfo) -> None:
    """A forced unlock of a live lease is an override: it goes in the history."""
    from driftless.agent.policy import record_break_glass

    record_break_glass(ctx.project.root, stacks=[stack], operation="force-unlock",
                       reason=f"forced unlock of a live lock held by {info.describe()} "
                              f"for {info.age_seconds():.0f}s")


@state_app.command()
def pull(
    stack: Annotated[str, typer.Argument(help="Stack name.")], directory: DirOpt = None,
) -> None:
    """Print a stack's whole state as JSON (secrets are kept only as digests).

    Example: driftless state pull web > web-state.json
    """
    with guard(), project_context(directory=directory, env=None) as ctx:
        print_json(ctx.backend.read(stack).to_json())


@state_app.command()
def push(
    stack: Annotated[str, typer.Argument(help="Stack name.")],
    source: Annotated[Path, typer.Argument(help="A JSON file from `driftless state pull`.")],
    directory: DirOpt = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a state of another lineage (e.g. a restored backup).")] = False,
) -> None:
    """Restore a stack's state from a file written by `state pull`.

    The file's resources and outputs become the next serial. A file of another
    lineage is refused unless --force: it is not a copy of this stack's state.

    Example: driftless state push web web-state.json
    """
    with guard(), project_context(directory=directory, env=None) as ctx:
        pushed = _read_snapshot(source)
        with hold_lock(ctx.backend, stack, operation="state push"):
            current = ctx.backend.read(stack)
            if current.serial and pushed.lineage != current.lineage and not force:
                raise StateError(
                    f"{source} holds state of another lineage ({pushed.lineage[:8]}) than "
                    f"stack '{stack}' ({current.lineage[:8]})",
                    hint="check you picked the right file; replace anyway with --force")
            ctx.backend.write(stack, current.next(dict(pushed.resources), dict(pushed.outputs)))
    console.print(f"pushed {len(pushed.resources)} resources into stack '{stack}' "
                  f"(serial {current.serial + 1})")


def _read_snapshot(source: Path) -> StateSnapshot:
    try:
        return StateSnapshot.from_json(json.loads(source.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read state from {source}: {exc}",
                          hint="give a file written by: driftless state pull STACK") from None


def _history_of(ctx: Context) -> KeepsHistory:
    backend = ctx.backend
    if not callable(getattr(backend, "history", None)):
        raise no_history(backend)
    return cast(KeepsHistory, backend)


@state_app.command()
def history(directory: DirOpt = None, stack: StackOpt = None, as_json: JsonOpt = False) -> None:
    """List each stack's kept snapshots: serial, time, resources, who wrote it.

    The sqlite backend keeps the last 10 per stack (?history=N on the state URL).
    Example: driftless state history --stack web
    """
    with guard(), project_context(directory=directory, env=None) as ctx:
        keeper = _history_of(ctx)
        names = stack or ctx.backend.stacks()
        kept = [(n, keeper.history(n)) for n in names]
    if as_json:
        print_json([info.to_json() for _, infos in kept for info in infos])
        return
    for name, infos in kept:
        console.print(f"[bold]{escape(name)}[/]" + ("" if infos else "  (no snapshots kept)"))
        for i, info in enumerate(infos):
            when = datetime.fromtimestamp(info.at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            current = "  (current)" if i == 0 else ""
            console.print(f"  serial {info.serial:<6} {when}  {info.resources:>6} resources  "
                          f"{escape(info.writer)}{current}")


@state_app.command()
def restore(
    stack: Annotated[str, typer.Option("--stack", "-s", help="The stack to restore.")],
    serial: Annotated[int, typer.Option("--serial", help="The kept serial to bring back.")],
    directory: DirOpt = None,
    auto_approve: Annotated[bool, typer.Option("--auto-approve", help="Do not ask.")] = False,
) -> None:
    """Bring back a kept snapshot (see `state history`) as the stack's next serial.

    Runs under the stack's lock (refused while another run holds it) and changes
    no object: the next plan compares the restored state with the world as usual.
    Example: driftless state restore --stack web --serial 12
    """
    with guard(), project_context(directory=directory, env=None) as ctx:
        keeper = _history_of(ctx)
        with hold_lock(ctx.backend, stack, operation=f"state restore of serial {serial}"):
            current = ctx.backend.read(stack)
            if not current.serial:
                raise StateError(f"stack '{stack}' has no state to restore",
                                 hint="list stacks with history: driftless state history")
            pending = ctx.backend.journal(stack).entries()
            if pending:
                raise StateError(
                    f"stack '{stack}' has {len(pending)} journal entr"
                    f"{'y' if len(pending) == 1 else 'ies'} of an interrupted run; "
                    "nothing was restored",
                    hint=f"run driftless plan -s {stack} first (it recovers them), then "
                         "restore")
            old = keeper.snapshot(stack, serial)
            console.print(escape(_restore_summary(stack, current, old)))
            _confirm_restore(auto_approve, stack, serial)
            ctx.backend.write(stack, current.next(dict(old.resources), dict(old.outputs)))
        _record_restore(ctx, stack, serial, current.serial + 1)
    console.print(f"restored stack '{escape(stack)}' to serial {serial} as serial "
                  f"{current.serial + 1}; run driftless plan -s {escape(stack)} to compare it "
                  "with the world")


def _record_restore(ctx: Context, stack: str, serial: int, new: int) -> None:
    """A restore overrides what runs recorded: it goes in the stack's history."""
    from driftless.agent.policy import record_break_glass

    record_break_glass(ctx.project.root, stacks=[stack], operation="state-restore",
                       reason=f"state restored to serial {serial}, written as serial {new}")


def _restore_summary(stack: str, current: StateSnapshot, old: StateSnapshot) -> str:
    """What the restore changes in state, resource by resource (counts and names)."""
    back = sorted(str(r) for r in old.resources if r not in current.resources)
    dropped = sorted(str(r) for r in current.resources if r not in old.resources)
    changed = sorted(str(r) for r, st in old.resources.items()
                     if r in current.resources and current.resources[r] != st)
    lines = [f"restore stack '{stack}' to serial {old.serial} ({len(old.resources)} resources) "
             f"as serial {current.serial + 1}; compared with serial {current.serial}:"]
    for mark, what, ids in (("+", "back in state", back), ("-", "no longer in state", dropped),
                            ("~", "recorded differently", changed)):
        shown = ", ".join(ids[:5]) + (f", … ({len(ids) - 5} more)" if len(ids) > 5 else "")
        lines.append(f"  {mark} {len(ids)} {what}" + (f": {shown}" if ids else ""))
    if dict(old.outputs) != dict(current.outputs):
        lines.append("  ~ outputs differ")
    return "\n".join(lines)


def _confirm_restore(auto_approve: bool, stack: str, serial: int) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise ConfigError("refusing to restore without confirmation: stdin is not a terminal",
                          hint="pass --auto-approve")
    if not typer.confirm(f"Restore stack '{stack}' to serial {serial}?"):
        raise typer.Exit(1)


WaitOpt = Annotated[float, typer.Option(
    "--wait", help="Seconds to wait for a stack's lock (e.g. while an agent reconciles it).")]


@state_app.command()
def rekey(directory: DirOpt = None, stack: StackOpt = None, wait: WaitOpt = 120.0) -> None:
    """Re-encrypt every stack's state and pending journal with the current key.

    Reads with DRIFTLESS_STATE_KEY or DRIFTLESS_STATE_FALLBACK_KEY and writes with
    DRIFTLESS_STATE_KEY (in clear text when only the fallback is set, which turns
    encryption off). Each stack is rewritten under its lock, so a running agent
    is waited for, never raced. Stacks already under the current key are left alone.

    Example: DRIFTLESS_STATE_KEY_FILE=new.txt DRIFTLESS_STATE_FALLBACK_KEY_FILE=old.txt
    driftless state rekey
    """
    from driftless.state.encrypted import EncryptedBackend  # rekey only

    with guard(), project_context(directory=directory, env=None) as ctx:
        backend = ctx.backend
        if not isinstance(backend, EncryptedBackend):
            raise ConfigError(
                "state rekey needs a state key, but DRIFTLESS_STATE_KEY is not set",
                hint="set DRIFTLESS_STATE_KEY (or _FILE) to the new key and "
                     "DRIFTLESS_STATE_FALLBACK_KEY (or _FILE) to the old one")
        names = stack or backend.stacks()
        rewritten = [name for name in names if _rekey_stack(backend, name, wait)]
        target = ("the current key" if backend.keys.current is not None
                  else "clear text (no DRIFTLESS_STATE_KEY)")
    for name in rewritten:
        console.print(f"  {escape(name)}: re-encrypted")
    console.print(f"rewrote {len(rewritten)} of {len(names)} stacks with {target}")


def _rekey_stack(backend: EncryptedBackend, stack: str, wait: float) -> bool:
    """One stack under its lock: the agent takes the same lock, so it never
    writes a snapshot sealed with the old key over the rekeyed one."""
    with hold_lock(backend, stack, operation="state rekey", wait=wait):
        return backend.rekey(stack)


def register(app: typer.Typer) -> None:
    """Add the ``state`` group."""
    app.add_typer(state_app, name="state")
