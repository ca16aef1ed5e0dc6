"""``driftless fleet status|resume|peers``: the fleet as its shared store sees it.

I/O: reads (and for ``resume`` writes) the fleet store named by ``--store``
or ``DRIFTLESS_FLEET``; prints to the terminal.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from driftless.cli.output import console, guard, print_json
from driftless.errors import ConfigError

__all__ = ["register", "status_doc"]

StoreOpt = Annotated[str | None, typer.Option(
    "--store", help="The fleet store URL (default: DRIFTLESS_FLEET), e.g. "
                    "etcd://127.0.0.1:2379/driftless/fleet.")]


def _open(store: str | None) -> Any:
    from driftless.fleet import open_coordinator

    url = store or os.environ.get("DRIFTLESS_FLEET")
    if not url:
        raise ConfigError("no fleet store given",
                          hint="pass --store URL or set DRIFTLESS_FLEET")
    return open_coordinator(url)


def status_doc(coord: Any, rollout: str | None = None) -> dict[str, Any]:
    """Every rollout (or one): slots in use and holders, counts per phase, the halt."""
    from driftless.fleet.rollout import tally

    members = coord.members()
    live = {m.node for m in members}
    out: list[dict[str, Any]] = []
    for record in sorted(coord.rollouts(), key=lambda r: r.rollout):
        if rollout is not None and record.rollout != rollout:
            continue
        slots = coord.slots(record.rollout)
        halt = coord.halted(record.rollout)
        out.append({
            "rollout": record.rollout, "slots": record.slots, "in_use": len(slots),
            "holders": [{"node": s.node, "slot": s.index, "token": s.token} for s in slots],
            "canary": list(record.canary), "failure_threshold": record.failure_threshold,
            "counts": tally(coord.reports(record.rollout), slots, live, halt is not None),
            "halted": None if halt is None else {"reason": halt.reason, "by": halt.by}})
    return {"members": [{"node": m.node, "tags": dict(m.tags), "revision": m.revision,
                         "address": m.address} for m in members], "rollouts": out}


def status(store: StoreOpt = None,
           rollout: Annotated[str | None, typer.Option(help="Only this rollout.")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per-rollout counts (pending, in progress, healthy, failed, halted, lost), slots in
    use and who holds them.

    Example: driftless fleet status --store etcd://127.0.0.1:2379/driftless/fleet
    """
    with guard("nothing was changed"):
        coord = _open(store)
        try:
            doc = status_doc(coord, rollout)
        finally:
            coord.close()
    if as_json:
        print_json(doc)
        return
    console.print(f"{len(doc['members'])} live members")
    for r in doc["rollouts"]:
        counts = " ".join(f"{k}={v}" for k, v in r["counts"].items())
        holders = ", ".join(f"{h['node']}#{h['slot']}" for h in r["holders"]) or "-"
        console.print(f"{r['rollout']}  slots {r['in_use']}/{r['slots']} held by {holders}"
                      f"  {counts}", markup=False)
        if r["halted"]:
            console.print(f"  HALTED by {r['halted']['by']}: {r['halted']['reason']}"
                          f"  (driftless fleet resume {r['rollout']})", markup=False)


def resume(rollout: Annotated[str, typer.Argument(help="The halted rollout.")],
           store: StoreOpt = None) -> None:
    """Clear a rollout's halt; its failed nodes try again.

    Example: driftless fleet resume worker.3f2a9c1e
    """
    with guard("nothing was changed"):
        coord = _open(store)
        try:
            was = coord.resume(rollout)
        finally:
            coord.close()
    console.print(f"rollout {rollout} resumed" if was else f"rollout {rollout} was not halted")


def peers(store: StoreOpt = None,
          select: Annotated[str, typer.Option(help="Tag filter, e.g. role=worker.")] = "",
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The peer table from store membership (live members whose tags match).

    Example: driftless fleet peers --select role=worker
    """
    from driftless.fleet.node import parse_tags
    from driftless.fleet.peers import resolve_peers

    with guard("nothing was changed"):
        coord = _open(store)
        try:
            rows = [p.row() for p in resolve_peers({"members": parse_tags(select)},
                                                   coord=coord)]
        finally:
            coord.close()
    if as_json:
        print_json(rows)
        return
    for row in rows:
        tags = ",".join(f"{k}={v}" for k, v in row["tags"].items())
        console.print(f"{row['name']}  {row['address'] or '-'}  {row['revision'][:7] or '-'}"
                      f"  {tags}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the ``fleet`` group to the application."""
    fleet_app = typer.Typer(help="Fleet mode: rollouts, slots, halts and peers in the shared "
                                 "store.", no_args_is_help=True)
    fleet_app.command()(status)
    fleet_app.command()(resume)
    fleet_app.command()(peers)
    app.add_typer(fleet_app, name="fleet")
