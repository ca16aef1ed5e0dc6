"""Plans: the full list of changes for one stack, and what they were made from.

A saved plan records the state lineage and serial and the render digest it
was computed from; ``driftless apply plan.json`` refuses when any of them moved.
A plan file is state on disk too: it keeps sensitive ``--var`` values only
as keyed digests (the operator gives them again at apply, which compares
the digests), and its changes show secrets as ``(sensitive)``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from driftless.model.change import Action, Change
from driftless.records import record

__all__ = ["PLAN_FORMAT", "Plan", "SavedPlan"]

PLAN_FORMAT = 1


@record
class Plan:
    """Changes for one stack, in dependency order."""

    stack: str
    revision: str | None
    digest: str
    lineage: str
    serial: int
    changes: tuple[Change, ...]
    destroy: bool = False
    notes: tuple[str, ...] = ()
    adopt: bool = False
    # upstream stack -> its outputs this plan saw as known only after apply
    awaiting: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def pending(self) -> list[Change]:
        """The changes apply will carry out (a new list each call)."""
        return list(self._sorted()[0])

    def refused(self) -> list[Change]:
        """Deletes of protected resources, and objects that exist but are not managed."""
        return list(self._sorted()[1])

    def _sorted(self) -> tuple[list[Change], list[Change]]:
        """(pending, refused), worked out once in one pass: a run asks for them several
        times, and a 10,000-resource plan is 10,000 checks each."""
        found: tuple[list[Change], list[Change]] | None = self.__dict__.get("_sorted_changes")
        if found is None:
            pending = [c for c in self.changes if c.is_change]
            found = (pending, [c for c in self.changes if c.refused]
                     if len(pending) != len(self.changes) else [])
            object.__setattr__(self, "_sorted_changes", found)  # a cache, not a field
        return found

    def unmanaged(self) -> list[Change]:
        """Refused because the object exists and state does not own it (see ``--adopt``)."""
        return [c for c in self._sorted()[1] if c.unmanaged]

    def adopted(self) -> list[Change]:
        """Existing objects this plan takes over into state."""
        return [c for c in self._sorted()[0] if c.adopt]

    def has_changes(self) -> bool:
        """Whether anything would be done (refusals count: they need attention)."""
        return bool(self.pending()) or bool(self.refused())

    def can_apply(self) -> bool:
        """A plan with a refused delete must not be applied as a whole."""
        return not self.refused()

    def summary(self) -> dict[str, int]:
        """Counts per action, plus ``refused``."""
        pending, refused = self._sorted()
        counts = Counter(c.action for c in pending)
        out = {a.value: counts.get(a, 0) for a in _COUNTED}
        out["refused"] = len(refused)
        out["unmanaged"] = len(self.unmanaged())
        out["adopt"] = len(self.adopted())
        return out

    def summary_line(self) -> str:
        """``Plan: 1 to create, 0 to update, ...`` as one line."""
        s = self.summary()
        adopt = f", {s['adopt']} to adopt" if s["adopt"] else ""
        refused = f", {s['refused']} refused" if s["refused"] else ""
        if s["unmanaged"]:
            refused += f" ({s['unmanaged']} not managed)"
        return (
            f"Plan: {s['create']} to create, {s['update']} to update, "
            f"{s['replace']} to replace, {s['delete']} to delete{adopt}{refused}."
        )

    def to_json(self) -> dict[str, Any]:
        """Secret-free JSON form."""
        return {
            "stack": self.stack,
            "revision": self.revision,
            "digest": self.digest,
            "lineage": self.lineage,
            "serial": self.serial,
            "destroy": self.destroy,
            "adopt": self.adopt,
            "summary": self.summary(),
            "notes": list(self.notes),
            "changes": [c.to_json() for c in self.changes if c.action is not Action.NOOP],
            **({"awaiting": {k: list(v) for k, v in self.awaiting.items()}}
               if self.awaiting else {}),
        }


_COUNTED = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE)


@record
class SavedPlan:
    """What ``plan -out FILE`` writes: the plans plus how to render them again."""

    plans: tuple[Plan, ...]
    env: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    var_files: tuple[str, ...] = ()
    # name -> keyed digest of each sensitive --var value (never the value)
    sensitive_variables: Mapping[str, str] = field(default_factory=dict)

    def dumps(self) -> str:
        """Serialise; contains no secrets (changes are masked, secret vars digested)."""
        leaked = set(self.variables) & set(self.sensitive_variables)
        if leaked:
            raise ValueError(f"sensitive variable(s) {', '.join(sorted(leaked))} "
                             "must be saved as digests only")
        doc = {
            "format": PLAN_FORMAT,
            "env": self.env,
            "variables": dict(self.variables),
            "sensitive_variables": dict(self.sensitive_variables),
            "var_files": list(self.var_files),
            "plans": [p.to_json() for p in self.plans],
        }
        return json.dumps(doc, indent=2, sort_keys=True, default=str)

    @staticmethod
    def loads(text: str) -> dict[str, Any]:
        """Parse a saved plan file into its JSON document (validated by the caller)."""
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("format") != PLAN_FORMAT:
            raise ValueError("not a driftless plan file (format 1)")
        return doc
