"""Values with a special meaning: secrets, values not known until apply.

``Sensitive`` wraps a secret from the moment it is decrypted or read; its
``repr`` and ``str`` are ``(sensitive)`` so it cannot leak by formatting.
``Deferred`` is an expression over other resources' attributes that the
renderer could not evaluate (``${db.endpoint}``); the engine evaluates it
once those resources are known, and plans show ``(known after apply)``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, Final

from driftless.model.digest_key import current_key
from driftless.model.ids import ResourceId
from driftless.records import record

__all__ = [
    "SCALARS",
    "UNKNOWN",
    "Deferred",
    "Sensitive",
    "Unknown",
    "contains_sensitive",
    "contains_unknown",
    "deferred_refs",
    "digest_key_of",
    "is_digest",
    "is_legacy_digest",
    "legacy_digest",
    "mask",
    "plain_dict",
    "resolve",
    "reveal",
    "secret_origins",
    "sensitive_digest",
]

DIGEST_PREFIX: Final = "hmac-sha256:"
# The key compiled into versions before per-operator keys: digests made with
# it (``hmac-sha256:<hex>``, no key id) are recognised and rewritten (see
# ``driftless.model.redact.rekey``), never made any more.
_LEGACY_KEY: Final = b"driftless/sensitive/v1"
_HEX = 64


@record(slots=True)
class Sensitive:
    """A secret. Prints as ``(sensitive)``; ``reveal()`` gets the value."""

    value: Any = field(repr=False)
    # the secrets this value was built from (``/srv/${var.token}/x`` keeps the
    # token), so a message quoting only part of the value can still be masked
    origins: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def __repr__(self) -> str:
        return "(sensitive)"

    __str__ = __repr__

    @classmethod
    def derived(cls, value: Any, parts: Any) -> Sensitive:
        """``value`` computed from ``parts``: sensitive, remembering the secrets in them."""
        return cls(value, origins=secret_origins(parts))

    def digest(self) -> str:
        """A keyed digest to keep in state instead of the value."""
        return sensitive_digest(self.value)


def secret_origins(value: Any) -> frozenset[str]:
    """The secrets inside ``value``: each ``Sensitive``'s origins, or its own text."""
    if isinstance(value, Sensitive):
        inner = value.value
        own = frozenset({str(inner)}) if isinstance(inner, str | int | float) else frozenset()
        return value.origins | own | secret_origins(inner)
    if isinstance(value, Mapping):
        return frozenset().union(*(secret_origins(v) for v in value.values()))
    if isinstance(value, list | tuple):
        return frozenset().union(*(secret_origins(v) for v in value))
    return frozenset()


def sensitive_digest(value: Any) -> str:
    """HMAC-SHA256 of a secret under the operator's key: comparable, not reversible.

    The form is ``hmac-sha256:<key id>:<hex>``; the key id tells a digest made
    with another key apart from a changed secret.
    """
    key = current_key()
    return f"{DIGEST_PREFIX}{key.id}:{_hmac(key.secret, value)}"


def legacy_digest(value: Any) -> str:
    """The digest older versions made with the compiled-in key (for migration only)."""
    return DIGEST_PREFIX + _hmac(_LEGACY_KEY, value)


def _hmac(key: bytes, value: Any) -> str:
    data = value if isinstance(value, bytes) else str(value).encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def is_digest(value: Any) -> bool:
    """Whether ``value`` is a secret's digest (of any key), not a value."""
    return isinstance(value, str) and value.startswith(DIGEST_PREFIX)


def is_legacy_digest(value: Any) -> bool:
    """Whether ``value`` is a digest made with the old compiled-in key."""
    if not is_digest(value) or len(value) != len(DIGEST_PREFIX) + _HEX:
        return False
    return ":" not in value[len(DIGEST_PREFIX):]


def digest_key_of(value: str) -> str | None:
    """The key id a digest names (None for a legacy digest or a non-digest)."""
    if not is_digest(value) or is_legacy_digest(value):
        return None
    return value[len(DIGEST_PREFIX):].split(":", 1)[0]


class Unknown:
    """A value that will only be known after apply (a singleton)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    __str__ = __repr__


UNKNOWN: Final = Unknown()

AttrLookup = Callable[[ResourceId], "Mapping[str, Any] | None"]


@record
class Deferred:
    """An expression waiting on other resources' attributes.

    ``evaluate`` receives a lookup from a resource id to its attributes (or
    None when not known yet) and returns the value, or ``UNKNOWN``.
    ``text`` is the source expression, used in digests and messages.
    """

    text: str
    refs: frozenset[ResourceId]
    evaluate: Callable[[AttrLookup], Any] = field(compare=False, repr=False)

    def __repr__(self) -> str:
        return f"Deferred({self.text!r})"


def reveal(value: Any) -> Any:
    """Unwrap ``Sensitive`` values, recursively; used only at the point of use."""
    if value.__class__ in SCALARS:  # most values: no isinstance against the ABCs
        return value
    if isinstance(value, Sensitive):
        return reveal(value.value)
    if isinstance(value, Mapping):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reveal(v) for v in value]
    return value


def mask(value: Any) -> Any:
    """A copy safe to print or store: secrets become ``(sensitive)``."""
    if value.__class__ in SCALARS:
        return value
    if isinstance(value, Sensitive):
        return "(sensitive)"
    if isinstance(value, Unknown | Deferred):
        return "(known after apply)"
    if isinstance(value, Mapping):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    return value


def _holds(value: Any, kinds: type | tuple[type, ...]) -> bool:
    """Whether ``value`` or anything inside its mappings and sequences is one of
    ``kinds``; a ``Sensitive`` is not looked into.

    Iterative, and scalars are skipped by class before any ``isinstance`` against
    an ABC: render asks it of every function call's arguments and the planner of
    every resource, so it ran ~40 times per resource of a 10,000-resource plan.
    A dict of plain values, nearly every resource's properties, is answered in
    one loop without the work list.
    """
    if plain_dict(value):
        return False
    todo = [value]
    while todo:
        v = todo.pop()
        cls = v.__class__
        if cls in SCALARS:
            continue
        if isinstance(v, kinds):
            return True
        if cls is dict or isinstance(v, Mapping):
            todo.extend(v.values())
        elif cls is list or cls is tuple or isinstance(v, list | tuple):
            todo.extend(v)
    return False


def plain_dict(value: Any) -> bool:
    """Whether ``value`` is a dict whose values are all plain (``SCALARS``): nearly
    every resource's properties, which then hold nothing to reveal, resolve or
    walk. No generator (checked in C): asked per resource by render, plan and apply."""
    return value.__class__ is dict and SCALARS.issuperset(map(type, value.values()))


def contains_sensitive(value: Any) -> bool:
    """Whether any part of ``value`` is a secret."""
    return _holds(value, Sensitive)


def contains_unknown(value: Any) -> bool:
    """Whether any part of ``value`` is unknown or deferred (not looking inside secrets)."""
    return _holds(value, (Unknown, Deferred))


def resolve(value: Any, lookup: AttrLookup) -> Any:
    """Evaluate every ``Deferred`` inside ``value``; unknown parts stay ``UNKNOWN``."""
    if value.__class__ in SCALARS:
        return value
    if isinstance(value, Deferred):
        return value.evaluate(lookup)
    if isinstance(value, Sensitive):
        inner = resolve(value.value, lookup)
        return inner if isinstance(inner, Unknown) else Sensitive(inner)
    if isinstance(value, Mapping):
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, lookup) for v in value]
    return value


def deferred_refs(value: Any) -> set[ResourceId]:
    """Every resource id a value waits on (iterative: this runs per resource per plan)."""
    out: set[ResourceId] = set()
    todo = [value]
    while todo:
        v = todo.pop()
        if v.__class__ in SCALARS:
            continue
        if isinstance(v, Deferred):
            out.update(v.refs)
        elif isinstance(v, Sensitive):
            todo.append(v.value)
        elif isinstance(v, Mapping):
            todo.extend(v.values())
        elif isinstance(v, list | tuple):
            todo.extend(v)
    return out


SCALARS = frozenset({str, int, float, bool, type(None), bytes})
"""The classes of plain values: nothing inside to unwrap, resolve or walk. Checked
by ``value.__class__ in SCALARS``, which is much cheaper than ``isinstance``
against the collection ABCs on the paths taken per value of every resource."""
