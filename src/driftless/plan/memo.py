"""The clean-plan memo: a repeated no-op plan only stats what it manages.

Like git's index one level up. When a plan of a stack finds nothing to do,
the memo remembers that outcome under a keyed digest of everything the plan
was a function of: the stack's render digest (every property, dependency,
trigger and protect flag), the state's lineage and serial (every recorded
row; each write moves the serial), the providers' configuration and the
driftless version. The next plan with the same key asks each resource's
kind whether its object is still exactly as state recorded it
(``unchanged_since``: for a local file, one ``lstat`` checked against the
recorded size, mtime, ctime, inode and mode, racily-clean records
excluded, as the read itself does). When every one says yes, the plan is
the one made last time, so it is rebuilt without validating, reading or
diffing anything; a single "no" or a kind without the check means a full
plan. Nothing is ever applied from the memo, and a plan that would change
anything is never remembered.

Trust: the memo lives in the project's ``.driftless/cache`` (the
repository's directory), so an entry is named and sealed with an HMAC
under the operator's digest key; a planted file cannot claim a stack is
clean. Only plans with no notes (nothing recovered or migrated), no
``destroy``, reads on (``refresh``), no value resolved from other
resources and no triggers are remembered: their no-op changes are exactly
``Change(id, NOOP, resource, recorded live view)``.
I/O: small files in the cache directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import marshal
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from driftless.model import (
    Action,
    Change,
    DesiredStack,
    Graph,
    LiveResource,
    Plan,
    Resource,
    ResourceId,
    ResourceState,
    StateSnapshot,
)
from driftless.model.filemap import mapped, write_private
from driftless.model.stack import DIGEST_SIZE, NOT_PLAIN, resource_digest
from driftless.plan.validate import all_dependencies

__all__ = ["KEEP", "CleanMemo", "StoredRows", "clean_plan", "no_op_keys", "resource_key",
           "settled_changes", "stored_rows", "worth_remembering"]

KEEP = 64
"""Entries kept; each new render digest or state serial of a stack makes another."""

_FORMAT = 5  # 4: rows keyed by their stored bytes; 5: properties by their digest
_PREFIX = "clean-"
_SIZE = 32
_KEY = 16  # bytes of each resource key
_MAGIC = b"driftless-clean-resources\0"


class CleanMemo:
    """No-op plans remembered in ``directory``, named and sealed with ``key``."""

    def __init__(self, directory: Path, *, key: bytes, context: Any = None) -> None:
        self.directory = directory
        self._key = hmac.new(key, b"driftless/clean-plan-memo", hashlib.sha256).digest()
        self._context = json.dumps(context, sort_keys=True, default=repr)

    def name(self, desired: DesiredStack, snapshot: StateSnapshot) -> str:
        """The entry's file name: a keyed digest of what the plan was a function of."""
        from driftless import __version__

        text = json.dumps([_FORMAT, __version__, desired.name, desired.digest,
                           snapshot.lineage, snapshot.serial, self._context])
        return _PREFIX + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:40]

    def _seal(self, name: str) -> bytes:
        return hmac.new(self._key, name.encode(), hashlib.sha256).digest()

    def holds(self, name: str) -> bool:
        """Whether a sealed entry ``name`` exists (a plain file we wrote)."""
        with mapped(self.directory / name, most=_SIZE) as data:
            return data is not None and hmac.compare_digest(bytes(data), self._seal(name))

    def remember(self, name: str) -> None:
        """Write entry ``name``; a failure only costs a full plan."""
        self._write(name, self._seal(name))
        with contextlib.suppress(OSError):
            self._prune()

    def _write(self, name: str, *data: bytes) -> None:
        """Write entry ``name`` beside the render cache; a failure only costs a plan."""
        with contextlib.suppress(OSError):
            write_private(self.directory / name, data,
                          dirs=(self.directory.parent, self.directory))

    def resources_name(self, stack: str) -> str:
        """The file of ``stack``'s no-op resources (one per stack and context)."""
        from driftless import __version__

        text = json.dumps([_FORMAT, __version__, "resources", stack, self._context])
        return _PREFIX + hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()[:40]

    def no_op_resources(self, stack: str) -> frozenset[bytes]:
        """The keys (``resource_key``) of resources the last full plan found unchanged."""
        with mapped(self.directory / self.resources_name(stack), most=1 << 26) as data:
            if data is None or data[:len(_MAGIC)] != _MAGIC:
                return frozenset()
            seal = bytes(data[len(_MAGIC):len(_MAGIC) + _SIZE])
            body = bytes(data[len(_MAGIC) + _SIZE:])
        if not hmac.compare_digest(seal, hmac.new(self._key, body, hashlib.sha256).digest()):
            return frozenset()
        return frozenset(body[i:i + _KEY] for i in range(0, len(body), _KEY))

    def remember_resources(self, stack: str, keys: Iterable[bytes]) -> None:
        """Replace ``stack``'s no-op resources with ``keys`` (sealed, temp + rename)."""
        body = b"".join(sorted(keys))
        seal = hmac.new(self._key, body, hashlib.sha256).digest()
        self._write(self.resources_name(stack), _MAGIC + seal, body)

    def _prune(self) -> None:
        """Drop the oldest entries past ``KEEP``."""
        found = []
        for entry in os.scandir(self.directory):
            if entry.name.startswith(_PREFIX):
                with contextlib.suppress(OSError):
                    found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
        found.sort(reverse=True)
        for _, path in found[KEEP:]:
            with contextlib.suppress(OSError):
                os.unlink(path)


def clean_plan(desired: DesiredStack, snapshot: StateSnapshot, providers: Any) -> Plan | None:
    """The all-no-op plan, when every resource's object is still as state recorded it.

    The caller has checked the memo entry; this only asks the kinds, each
    provider once with all its resources. None as soon as one resource is not
    in state, its kind cannot tell, or its object moved.
    """
    if len(snapshot.resources) != len(desired.resources):
        return None  # something recorded is no longer wanted (a delete), or new
    changes = []
    by_provider: dict[str, list[tuple[Resource, LiveResource]]] = {}
    for res in desired.resources:
        st = snapshot.get(res.id)
        if st is None:
            return None
        prior = st.live()
        by_provider.setdefault(res.id.provider, []).append((res, prior))
        changes.append(Change(res.id, Action.NOOP, res, prior))
    for name, pairs in by_provider.items():
        if not all(_unchanged(providers.get(name), pairs)):
            return None
    return Plan(desired.name, desired.revision, desired.digest, snapshot.lineage,
                snapshot.serial, tuple(_in_order(changes, desired)))


def _in_order(changes: list[Change], desired: DesiredStack) -> Iterable[Change]:
    """The changes in the order a full plan lists them (dependency order)."""
    if not any(r.depends_on or r.triggered_by for r in desired.resources):
        deps: Mapping[ResourceId, tuple[ResourceId, ...]] = {
            r.id: () for r in desired.resources}
    else:
        deps = {r.id: all_dependencies(r) for r in desired.resources}
    by_id = {c.id: c for c in changes}
    return [by_id[rid] for rid in Graph(deps).order()]


def worth_remembering(the_plan: Plan, desired: DesiredStack, snapshot: StateSnapshot) -> bool:
    """Whether a full plan's outcome may be replayed by ``clean_plan``: nothing to do,
    every object read back as state recorded it, and every change exactly what
    ``clean_plan`` builds for its resource (so the same inputs give the same plan)."""
    if (the_plan.notes or the_plan.destroy or len(the_plan.changes) != len(desired.resources)
            or len(snapshot.resources) != len(desired.resources)):
        return False
    by_id = {r.id: r for r in desired.resources}
    for change in the_plan.changes:
        res = by_id.get(change.id)
        st = snapshot.get(change.id)
        if (res is None or st is None or change.action is not Action.NOOP
                or change.desired is not res or res.triggered_by or change.depends_on
                or change.diffs or change.reason or change.refused or change.unmanaged
                or change.adopt or change.prior != st.live()):
            return False
    return True


StoredRows = Mapping[int, tuple[ResourceState, str | bytes]]
"""State rows as stored (packed bytes, or JSON text) by ``id()`` of the very
``ResourceState`` each holds (``stored_rows``): the same stored value is the same
row, so it keys the row without marshalling its attributes, private and inputs
again (and a packed row is ~4x shorter to hash than its text)."""


def stored_rows(backend: Any, stack: str) -> StoredRows:
    """The rows as stored that a row-per-resource backend keeps for ``stack``
    (SQLite: ``stored_rows``), by identity of the state each holds; empty for a
    backend that keeps none, whose rows are keyed by their values instead."""
    rows = getattr(backend, "stored_rows", None)
    if rows is None:
        return {}
    return {id(entry[0]): entry for entry in rows(stack).values() if entry[0] is not None}


def resource_key(res: Resource, st: ResourceState, rows: StoredRows | None = None,
                 digest: bytes | None = None) -> bytes | None:
    """A digest of everything a resource's own plan depends on: its address,
    properties, dependencies and protection (``digest``: its ``resource_digest``,
    worked out now when not given), and its state row. None when a value is not
    plain data (a secret, a value waiting on another resource, an unknown).

    The row enters as it is stored when ``rows`` holds this very row (the same
    stored bytes are the same row), else as its values: one backend always keys a
    row the same way, so a key recorded by one run is found by the next.
    """
    data = resource_digest(res) if digest is None else digest
    if data == NOT_PLAIN:
        return None
    try:
        found = rows.get(id(st)) if rows else None
        if found is not None and found[0] is st:
            stored = found[1]
            row = b"b" + stored if isinstance(stored, bytes) else b"t" + stored.encode()
        else:
            values: Any = (st.attributes, st.private, st.inputs, st.protect, [
                tuple(d) for d in st.depends_on] if st.depends_on else None)
            row = b"v" + marshal.dumps(values)
    except ValueError:
        return None
    return hashlib.sha256(data + row).digest()[:_KEY]  # SHA-NI: ~1.6x blake2b here


def settled_changes(desired: DesiredStack, snapshot: StateSnapshot, providers: Any,
                    known: frozenset[bytes], keys: dict[ResourceId, bytes],
                    rows: StoredRows | None = None) -> dict[ResourceId, Change]:
    """The resources whose plan is the no-op the last full plan made for them: same
    key (``resource_key``), no triggers, and the kind says from a stat that the
    object is still as recorded. The rest are planned in full. ``keys`` receives
    the key of each settled resource (not computed again to remember it)."""
    out: dict[ResourceId, Change] = {}
    if not known:
        return out
    # the stat checks first, the keys of what they found unchanged after: the
    # render cache's child hands the resources' digests back meanwhile
    by_provider: dict[str, list[tuple[int, Resource, ResourceState, LiveResource]]] = {}
    states = snapshot.resources
    for at, res in enumerate(desired.resources):
        st = states.get(res.id)
        if st is not None and not res.triggered_by:
            by_provider.setdefault(res.id.provider, []).append((at, res, st, st.live()))
    same: list[tuple[int, Resource, ResourceState, LiveResource]] = []
    for name, found in by_provider.items():
        pairs = [(res, prior) for _, res, _, prior in found]
        unchanged = _unchanged(providers.get(name), pairs)
        same += [entry for entry, ok in zip(found, unchanged, strict=True) if ok]
    digests = desired.resource_digests() if same else b""
    for at, res, st, prior in same:
        key = resource_key(res, st, rows, digests[at * DIGEST_SIZE:(at + 1) * DIGEST_SIZE])
        if key is not None and key in known:
            out[res.id] = Change(res.id, Action.NOOP, res, prior)
            keys[res.id] = key
    return out


def _unchanged(provider: Any, pairs: list[tuple[Resource, LiveResource]]) -> Sequence[bool]:
    """Each resource's ``unchanged_since``, in one call where the provider batches;
    all False for a provider that cannot tell."""
    each = getattr(provider, "unchanged_each", None)
    if each is not None:
        return each(pairs)  # type: ignore[no-any-return]
    check = getattr(provider, "unchanged_since", None)
    if check is None:
        return [False] * len(pairs)
    return [check(res, prior) for res, prior in pairs]


def no_op_keys(the_plan: Plan, desired: DesiredStack, stored: StateSnapshot,
               planned: StateSnapshot, keys: Mapping[ResourceId, bytes],
               settled: Mapping[ResourceId, Change] | None = None,
               rows: StoredRows | None = None) -> list[bytes]:
    """The keys of the resources a full plan found unchanged, exactly as
    ``settled_changes`` would rebuild them: no-op, read back as recorded, their
    state row not rewritten by the plan's migration, no triggers. A change that is
    the very one ``settled_changes`` made (``settled``) was built that way: its key
    is taken without checking it again."""
    by_id = {r.id: r for r in desired.resources}
    at: dict[int, int] = {}  # made when a key is first needed: most plans need none

    def digest_of(res: Resource) -> bytes:
        if not at:
            at.update((id(r), i * DIGEST_SIZE) for i, r in enumerate(desired.resources))
        start = at[id(res)]
        return desired.resource_digests()[start:start + DIGEST_SIZE]

    found = []
    settled = settled or {}
    for change in the_plan.changes:
        if settled.get(change.id) is change and planned.get(change.id) is stored.get(change.id):
            found.append(keys[change.id])
            continue
        res = by_id.get(change.id)
        st = stored.get(change.id)
        if (res is None or st is None or planned.get(change.id) is not st
                or change.action is not Action.NOOP or change.desired is not res
                or res.triggered_by or change.depends_on or change.diffs or change.reason
                or change.refused or change.unmanaged or change.adopt
                or change.prior != st.live()):
            continue
        key = keys.get(change.id) or resource_key(res, st, rows, digest_of(res))
        if key is not None:
            found.append(key)
    return found
