"""Changes: what the planner decided for one resource, and why."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from enum import StrEnum
from typing import Any, overload

from driftless.model.ids import ResourceId
from driftless.model.resource import LiveResource, Resource
from driftless.model.values import Sensitive, mask, plain_dict
from driftless.records import record

__all__ = ["Action", "Change", "CreateDiffs", "FieldDiff"]


class Action(StrEnum):
    """What apply will do to a resource."""

    NOOP = "no-op"
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    READ = "read"

    @property
    def symbol(self) -> str:
        """The plan symbol users know from Terraform."""
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.NOOP: " ",
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.READ: "<=",
}


@record(slots=True)
class FieldDiff:
    """One changed field; secrets are compared but never shown."""

    path: str
    before: Any
    after: Any
    sensitive: bool = False
    forces_replace: bool = False

    def shown(self) -> tuple[Any, Any]:
        """(before, after) safe to print."""
        if self.sensitive:
            return ("(sensitive)", "(sensitive)")
        return (mask(self.before), mask(self.after))


class CreateDiffs(Sequence[FieldDiff]):
    """The diffs of a create: every property it sets, by name (a ``None`` value left
    out, a secret marked sensitive), made when first asked for.

    Why: nothing of a first apply reads them but the plan printed for the user,
    which a large plan prints aside in a forked child. Made eagerly, the 30,000
    ``FieldDiff`` of a 10,000-file first apply were ~4% of its own instructions.

    It stands for the tuple it makes, in every way a ``Change`` is used: equal
    to it and hashed as it, iterated, indexed, sliced, added to a tuple, true
    when not empty, and pickled or copied as that very tuple.
    """

    __slots__ = ("_made", "_props")

    def __init__(self, props: Mapping[str, Any]) -> None:
        self._props = props
        self._made: tuple[FieldDiff, ...] | None = None

    def made(self) -> tuple[FieldDiff, ...]:
        """The diffs, as the tuple they stand for (made once)."""
        made = self._made
        if made is None:
            made = self._made = tuple([  # a list: no generator
                FieldDiff(k, None, v, isinstance(v, Sensitive))
                for k, v in sorted(self._props.items()) if v is not None])
        return made

    def shown(self) -> list[tuple[str, Any]]:
        """Each diff's name and new value as ``FieldDiff.shown`` gives it (a secret
        as ``(sensitive)``), without making the diffs: all a printed plan needs."""
        if self._made is not None:
            return [(d.path, d.shown()[1]) for d in self._made]
        props = self._props
        if plain_dict(props):  # nothing to mask: each value is shown as it is
            return [(k, v) for k, v in sorted(props.items()) if v is not None]
        return [(k, mask(v)) for k, v in sorted(props.items()) if v is not None]

    def __bool__(self) -> bool:  # asked before printing: answered without making them
        if self._made is not None:
            return bool(self._made)
        values = self._props.values()  # ``in`` runs in C: no generator unless a None is
        return bool(values) and (None not in values or any(v is not None for v in values))

    def __len__(self) -> int:
        return len(self.made())

    def __iter__(self) -> Iterator[FieldDiff]:
        return iter(self.made())

    @overload
    def __getitem__(self, index: int) -> FieldDiff: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[FieldDiff, ...]: ...

    def __getitem__(self, index: int | slice) -> FieldDiff | tuple[FieldDiff, ...]:
        return self.made()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CreateDiffs):
            other = other.made()
        return self.made() == other

    def __hash__(self) -> int:
        return hash(self.made())

    def __add__(self, other: tuple[FieldDiff, ...]) -> tuple[FieldDiff, ...]:
        return self.made() + tuple(other)

    def __radd__(self, other: tuple[FieldDiff, ...]) -> tuple[FieldDiff, ...]:
        return tuple(other) + self.made()

    def __repr__(self) -> str:
        return repr(self.made())

    def __reduce__(self) -> tuple[Any, ...]:
        return tuple, (self.made(),)


@record(slots=True)
class Change:
    """The planned action for one resource.

    ``desired`` and ``prior`` travel with the change so ``Provider.apply``
    needs nothing else. ``refused`` marks a delete of a protected resource:
    it is shown in the plan and never applied. ``reason`` is one line.
    ``triggered_by`` names the changed resources that made an otherwise
    unchanged resource UPDATE (restart a service, re-run a command).

    ``unmanaged`` marks a resource not in state whose object exists already
    (state was lost, or ``state rm``): without ``adopt`` it is ``refused`` so
    apply never overwrites what it does not own. ``adopt`` takes it over:
    a READ records the object as it is (no side effect); an UPDATE or
    REPLACE takes it over and then changes it.
    """

    id: ResourceId
    action: Action
    desired: Resource | None = None
    prior: LiveResource | None = None
    diffs: tuple[FieldDiff, ...] = ()
    reason: str = ""
    refused: bool = False
    depends_on: tuple[ResourceId, ...] = field(default=())
    triggered_by: tuple[ResourceId, ...] = field(default=())
    unmanaged: bool = False
    adopt: bool = False

    @property
    def is_change(self) -> bool:
        """Whether apply has anything to do for it (an adoption writes state)."""
        if self.refused:
            return False
        return self.adopt or self.action not in (Action.NOOP, Action.READ)

    @property
    def alters(self) -> bool:
        """Whether apply changes the object itself (an adoption READ does not),
        so whether it fires ``triggered_by``."""
        return self.is_change and self.action is not Action.READ

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe, secret-free record (saved plans, ``--json``)."""
        return {
            "address": str(self.id),
            "action": self.action.value,
            "reason": self.reason,
            "refused": self.refused,
            "unmanaged": self.unmanaged,
            "adopt": self.adopt,
            "triggered_by": [str(t) for t in self.triggered_by],
            "diffs": [_diff_json(d) for d in self.diffs],
        }


def _diff_json(d: FieldDiff) -> Mapping[str, Any]:
    before, after = d.shown()
    return {
        "path": d.path,
        "before": before,
        "after": after,
        "sensitive": d.sensitive,
        "forces_replace": d.forces_replace,
    }
