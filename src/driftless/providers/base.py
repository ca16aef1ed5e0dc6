"""The provider protocol, and a base class that dispatches to kind handlers.

A provider owns one API (the local host, AWS, ...). It reads, diffs, applies
and health-checks resources of its kinds; it never touches state or locks.
Most providers subclass ``KindProvider`` and write one ``KindHandler`` per
kind; the generic ``diff_properties`` covers UPDATE vs REPLACE for them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias, runtime_checkable

from driftless.errors import ProviderError
from driftless.model import (
    Action,
    Change,
    Deferred,
    FieldDiff,
    Health,
    LiveResource,
    Resource,
    ResourceId,
    Sensitive,
    Unknown,
    contains_sensitive,
    contains_unknown,
    reveal,
)
from driftless.model.gcpause import outlive
from driftless.model.redact import (
    digest_candidates,
    has_legacy_digest,
    holds_secret,
    rekey,
    scrub,
    seal,
    secret_texts,
    secure_attributes,
)
from driftless.model.values import plain_dict
from driftless.records import record

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

SchemaRef: TypeAlias = "type[BaseModel] | str"
"""A kind's schema: the pydantic model, or where it lives as ``"module:Class"``.

The string form keeps pydantic (~0.1 s to import and build the first model)
off a no-op plan: unchanged resources are not validated again, so the model
is imported only when something is validated or applied.
"""

__all__ = [
    "IDENTITY_ATTRIBUTES",
    "KindHandler",
    "KindProvider",
    "KindSpec",
    "Provider",
    "SchemaRef",
    "comparable",
    "diff_properties",
    "keeping_views",
    "rekey_live",
    "schema_problems",
    "secure_live",
]

IDENTITY_ATTRIBUTES = frozenset({
    "id", "arn", "name", "path", "bucket", "key", "prefix", "source", "role", "policy_arn",
    "vpc_id", "association_id",
})
"""Attributes a provider finds its object again by (delete reads them from
state): they are never digested, even when derived from a secret."""

STABLE_ATTRIBUTES = frozenset({"id", "arn"})
"""What no in-place update changes, whatever the kind declares."""

_MODELS: dict[str, type[BaseModel]] = {}  # "module:Class" -> the model, once imported
_QUICKS: dict[str, Callable[[Mapping[str, Any]], Any]] = {}  # "module:function" -> check

_VIEWS: dict[int, tuple[Mapping[str, Any], KindSpec, Any]] | None = None
"""Within ``keeping_views``: the quick view of each property mapping validation
vouched for, by the mapping's identity (the mapping is held too, so its id is not
reused while it is here), with the spec it was checked against, for
``KindHandler.parse`` to take instead of checking the same mapping again."""


@contextlib.contextmanager
def keeping_views() -> Iterator[None]:
    """Keep the properties' views that validation makes (render validates every
    resource's properties: a 10,000-file stack, 10,000 views) for the apply of the
    same command to take (``KindHandler.parse``) instead of checking the very same
    mappings again. Views are immutable and a mapping is found only by identity,
    so one that changed since (a deferred value resolved: a new mapping) is checked
    as before. Only a one-shot command keeps them: they are dropped at the block's
    end, so a process that renders again and again (the agent) holds none (a
    one-shot command lets them ``outlive`` the block, to go with the process)."""
    global _VIEWS
    outer, _VIEWS = _VIEWS, {} if _VIEWS is None else _VIEWS
    try:
        yield
    finally:
        if outer is None:
            outlive(_VIEWS)
            _VIEWS = None


@record
class KindSpec:
    """What a kind accepts and how it changes.

    ``schema`` is a pydantic model (``extra="forbid"``) of the properties,
    or its ``"module:Class"`` path to import it on first use (``model()``);
    ``replace_on`` names the properties whose change forces a replacement;
    ``import_id`` says what ``driftless import ADDRESS ID`` expects as ID.
    ``cheap`` marks kinds whose read and apply are short, CPU-bound work
    (a stat, a small write): the engine runs them in one thread, because a
    thread pool only adds GIL hand-offs there (measured 3-4x slower).
    ``read_fields`` are properties naming a file that the provider reads at
    plan time; render resolves them relative to the stack directory and
    confines them to the project (a repository may not make plan read
    ``/etc/shadow``), so the provider only ever sees absolute paths there.
    ``sensitive_attributes`` are secret by nature (a generated password,
    user data): state keeps each one only as a keyed digest, and plans show
    it as ``(sensitive)``. Any other attribute holding a secret of the
    resource is digested too, except the ``identity`` ones the provider
    needs in clear to find the object again.
    ``update_changes`` names the documented attributes an in-place update
    can change; the planner keeps the others known across an update, so a
    dependent that only references an id is not shown as a phantom update.
    None keeps only ``id`` and ``arn``. The conformance suite checks it.
    ``owns_object`` False marks a kind that only observes its object (a
    setup marker): finding that object before the kind is in state is the
    expected case, not an unmanaged object to refuse.
    """

    name: str
    schema: SchemaRef
    description: str
    replace_on: frozenset[str] = frozenset()
    import_id: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    cheap: bool = False
    read_fields: frozenset[str] = frozenset()
    sensitive_attributes: frozenset[str] = frozenset()
    identity: frozenset[str] = IDENTITY_ATTRIBUTES
    update_changes: frozenset[str] | None = None
    owns_object: bool = True  # False: observes an object it never creates (a marker)
    quick: str = ""  # "module:function", a pydantic-free check of plain properties

    def model(self) -> type[BaseModel]:
        """The properties' pydantic model (imported now if given by path)."""
        if not isinstance(self.schema, str):
            return self.schema
        model = _MODELS.get(self.schema)
        if model is None:
            module, _, name = self.schema.partition(":")
            model = _MODELS[self.schema] = getattr(importlib.import_module(module), name)
        return model

    def quick_view(self, revealed: Mapping[str, Any]) -> Any | None:
        """The properties as the model's attributes, when ``quick`` is certain
        they are valid; None when the model must judge them (or no check exists).

        The check spares the process pydantic and the model (~0.1 s to import)
        for the plain properties nearly every stack has; it never rejects.
        """
        if not self.quick:
            return None
        check = _QUICKS.get(self.quick)
        if check is None:
            module, _, name = self.quick.partition(":")
            check = _QUICKS[self.quick] = getattr(importlib.import_module(module), name)
        return check(revealed)

    def schema_name(self) -> str:
        """``module.Class`` of the model, without importing it."""
        if isinstance(self.schema, str):
            return self.schema.replace(":", ".")
        return f"{self.schema.__module__}.{self.schema.__qualname__}"

    def kept_by_update(self) -> frozenset[str]:
        """The attributes whose value an in-place update never changes."""
        if self.update_changes is None:
            return STABLE_ATTRIBUTES
        return frozenset(self.attributes) - self.update_changes


def secure_live(
    spec: KindSpec | None, resource: Resource | None, live: LiveResource | None,
) -> LiveResource | None:
    """``live`` as it may be kept and shown: no secret of ``resource`` in clear.

    Every attribute holding a secret becomes a digest (see
    ``secure_attributes``). Idempotent, and one quick walk of the properties
    for a resource without secrets. Digests of the old compiled-in key are
    the engine's to rewrite, once per plan (``rekey_live``).
    """
    if live is None:
        return None
    sensitive = spec.sensitive_attributes if spec else frozenset()
    if not sensitive and (resource is None or plain_dict(resource.properties)):
        return live  # plain values hold no secret: once per file of a large apply
    secrets = secret_texts(resource.properties) if resource is not None else frozenset()
    if not secrets and not sensitive:
        return live  # nothing to digest (``secure_attributes`` would return it as well)
    attrs = secure_attributes(
        live.attributes, secrets=secrets, sensitive=sensitive,
        identity=spec.identity if spec else IDENTITY_ATTRIBUTES)
    return live if attrs is live.attributes else replace(live, attributes=attrs)


def rekey_live(resource: Resource | None, live: LiveResource | None) -> LiveResource | None:
    """``live`` with digests made under the old compiled-in key rewritten (see ``rekey``)."""
    if live is None or resource is None:
        return live
    if not has_legacy_digest(live.attributes, live.private):
        return live  # the common case costs one walk
    found = digest_candidates(resource.properties)
    return replace(live, attributes=rekey(live.attributes, found),
                   private=rekey(live.private, found))


@runtime_checkable
class Provider(Protocol):
    """What the engine needs from a provider (see docs/providers.md)."""

    name: ClassVar[str]

    def kinds(self) -> Mapping[str, KindSpec]:
        """The kinds this provider manages, by short name (``file``)."""

    def configure(self, config: Mapping[str, Any]) -> None:
        """Apply provider settings from driftless.yaml (region, endpoint...)."""

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The live resource, or None when it does not exist."""

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """What it takes to go from ``live`` to ``desired``."""

    def apply(self, change: Change) -> LiveResource | None:
        """Carry out one change; None after a delete."""

    def health(self, live: LiveResource) -> Health:
        """The resource's health now."""

    def lookup(self, kind: str, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """Data sources (peers by tag, an AMI by filter, ...)."""

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        """Read an existing object by its provider id, to adopt it."""

    def close(self) -> None:
        """Release connections and threads."""


def comparable(value: Any) -> Any:
    """The form in which a desired value is compared with a live attribute.

    Secrets compare by keyed digest, because state and live attributes keep
    only that digest.
    """
    if isinstance(value, Sensitive):
        return value.digest()
    if isinstance(value, Mapping):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [comparable(v) for v in value]
    return value


def diff_properties(
    spec: KindSpec,
    desired: Resource,
    live: LiveResource | None,
    *,
    compare: Mapping[str, Any] | None = None,
) -> Change:
    """The generic diff: each desired property against the live attribute.

    ``compare`` may give the desired values in the form the live attributes
    use (defaults to ``desired.properties`` through ``comparable``).
    """
    if live is None:
        return Change(desired.id, Action.CREATE, desired, None, reason="does not exist yet")
    wanted = compare if compare is not None else desired.properties
    secrets = tuple(secret_texts(desired.properties))
    diffs = [_field_diff(spec, key, value, live.attributes.get(key), secrets)
             for key, value in sorted(wanted.items())]
    real = tuple(d for d in diffs if d is not None)
    if not real:
        return Change(desired.id, Action.NOOP, desired, live)
    action = Action.REPLACE if any(d.forces_replace for d in real) else Action.UPDATE
    return Change(desired.id, action, desired, live, real, reason=_reason(real))


def _field_diff(
    spec: KindSpec, key: str, value: Any, current: Any, secrets: tuple[str, ...],
) -> FieldDiff | None:
    sensitive = (key in spec.sensitive_attributes or holds_secret(value, secrets)
                 or holds_secret(current, secrets))
    if isinstance(value, Unknown | Deferred) or contains_unknown(value):
        return FieldDiff(key, current, value, sensitive, key in spec.replace_on)
    if _wanted_form(spec, key, value, secrets) == _live_form(spec, key, current, secrets):
        return None
    return FieldDiff(key, current, value, sensitive, key in spec.replace_on)


def _live_form(spec: KindSpec, key: str, current: Any, secrets: tuple[str, ...]) -> Any:
    """The attribute as ``secure_live`` stores it (a provider that is not a
    ``KindProvider`` may hand its reads over unsecured)."""
    if key in spec.identity:
        return current
    return seal(current) if key in spec.sensitive_attributes else scrub(current, secrets)


def _wanted_form(spec: KindSpec, key: str, value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` as ``secure_live`` leaves the attribute read back, so equal means equal."""
    if key in spec.sensitive_attributes:
        return seal(reveal(value))
    if key in spec.identity:
        return comparable(value)
    return scrub(comparable(value), secrets)


def _settled(spec: KindSpec, change: Change, desired: Resource) -> Change:
    """A kind's own diff, with secret-bearing fields shown as ``(sensitive)`` and the
    fields that differ only because the live side is digested dropped."""
    if not change.diffs:
        return change
    secrets = tuple(secret_texts(desired.properties))
    kept = tuple(_masked(spec, d, secrets) for d in change.diffs
                 if not _equal_once_secured(spec, d, secrets))
    if kept == change.diffs:
        return change
    if not kept and change.action in (Action.UPDATE, Action.REPLACE):
        return replace(change, action=Action.NOOP, diffs=(), reason="")
    if len(kept) == len(change.diffs) or change.action not in (Action.UPDATE, Action.REPLACE):
        return replace(change, diffs=kept)
    action = Action.REPLACE if any(d.forces_replace for d in kept) else Action.UPDATE
    return replace(change, action=action, diffs=kept, reason=_reason(kept))


def _masked(spec: KindSpec, d: FieldDiff, secrets: tuple[str, ...]) -> FieldDiff:
    if d.sensitive or not (d.path in spec.sensitive_attributes or holds_secret(d.after, secrets)
                           or holds_secret(d.before, secrets)):
        return d
    return replace(d, sensitive=True)


def _equal_once_secured(spec: KindSpec, d: FieldDiff, secrets: tuple[str, ...]) -> bool:
    if not secrets or contains_unknown(d.after) or comparable(d.after) == d.before:
        return False  # a diff the kind means (``creates`` vanished), or not about secrets
    key = d.path.split(".", 1)[0]
    return bool(_wanted_form(spec, key, d.after, secrets) == scrub(d.before, secrets))


def _reason(diffs: tuple[FieldDiff, ...]) -> str:
    forced = [d.path for d in diffs if d.forces_replace]
    if forced:
        return f"{', '.join(forced)} forces replacement"
    names = [d.path for d in diffs]
    return f"{', '.join(names[:3])}{' and more' if len(names) > 3 else ''} changed"


def schema_problems(spec: KindSpec, properties: Mapping[str, Any]) -> list[str]:
    """Validation problems, each ``field: message``; never echoes input values.

    Fields that are still unknown (they reference resources not yet applied)
    are not judged: their value does not exist yet.
    """
    view = spec.quick_view(properties)
    if view is not None:  # plain values, valid: nothing to reveal
        if _VIEWS is not None:
            _VIEWS[id(properties)] = (properties, spec, view)
        return []
    revealed = _revealed(properties)
    if revealed is not properties and spec.quick_view(revealed) is not None:
        return []
    model = spec.model()  # imports pydantic (with the model) on first use
    try:
        model.model_validate(revealed)
    except _validation_error() as exc:
        return [_problem(e, properties) for e in exc.errors() if not _unknown_at(e, properties)]
    return []


def _revealed(properties: Mapping[str, Any]) -> Mapping[str, Any]:
    """``reveal(properties)``, or the mapping itself when it is a dict of plain values
    (nothing to unwrap: the common case, once per resource at render and at apply).
    Only validators read the result; none changes it."""
    return properties if plain_dict(properties) else reveal(properties)


def _validation_error() -> type[ValidationError]:
    """pydantic's ValidationError (pydantic is loaded: a model was just used)."""
    from pydantic import ValidationError

    return ValidationError


def _unknown_at(err: Any, properties: Mapping[str, Any]) -> bool:
    """Whether the error is about a value that does not exist yet. The path is
    followed into lists and maps, so a misspelt or missing key beside an unknown
    value (``routes[0]`` with an unknown gateway) is still reported at plan."""
    value: Any = properties
    for step in err.get("loc", ()):
        value = value.value if isinstance(value, Sensitive) else value
        if isinstance(value, Unknown | Deferred):
            return True
        if isinstance(value, Mapping) and str(step) in value:
            value = value[str(step)]
        elif isinstance(value, list | tuple) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return False  # the key is not there: known to be wrong whatever is unknown
    return contains_unknown(value)


def _problem(err: Any, properties: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(properties)"
    kind = err.get("type", "")
    if kind == "missing":
        return f"missing required property '{loc}'"
    if kind == "extra_forbidden":
        return f"unknown property '{loc}'"
    return f"property '{loc}': {_message(err, properties)}"


def _message(err: Any, properties: Mapping[str, Any]) -> str:
    """The error's message; for a sensitive property its ``redacted`` form, if the
    validator gave one, because the plain message may quote the value."""
    loc, ctx = err.get("loc", ()), err.get("ctx") or {}
    if loc and "redacted" in ctx and contains_sensitive(properties.get(str(loc[0]))):
        return str(ctx["redacted"])
    return str(err.get("msg", "invalid"))


class KindHandler:
    """One kind's behaviour. Subclasses set ``spec`` and override what they do.

    ``props`` is the validated pydantic model built from revealed values: use
    it to act, never to print. Return attributes that keep secrets only as
    digests (``Sensitive.digest``).
    """

    spec: ClassVar[KindSpec]

    def parse(self, resource: Resource) -> Any:
        """Validate the resource's properties into the kind's schema: the quick
        check's view when it vouches for them, else the pydantic model."""
        if _VIEWS:  # validated already (``keeping_views``): the very same mapping
            kept = _VIEWS.get(id(resource.properties))
            if kept is not None and kept[0] is resource.properties and kept[1] is self.spec:
                return kept[2]
        revealed = _revealed(resource.properties)
        view = self.spec.quick_view(revealed)
        return view if view is not None else self.spec.model().model_validate(revealed)

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The live object, or None."""
        raise NotImplementedError

    def unchanged_since(self, resource: Resource, prior: LiveResource) -> bool:
        """Whether a read now would give back exactly ``prior`` (state's view), told
        cheaply (a stat, no hashing, no network). False means "cannot tell", never
        "changed": the engine then reads and diffs as usual. Used by the clean-plan
        memo (``plan.memo``); kinds whose diff depends on anything but the
        properties and the live view (a file read at plan time) must say False.
        """
        return False

    def unchanged_each(self, pairs: Sequence[tuple[Resource, LiveResource]]) -> list[bool]:
        """``unchanged_since`` of each pair, in order, as one call per kind."""
        return [self.unchanged_since(res, prior) for res, prior in pairs]

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Default: the generic property diff."""
        return diff_properties(self.spec, desired, live)

    def create(self, change: Change) -> LiveResource:
        """Create ``change.desired``."""
        raise NotImplementedError

    def update(self, change: Change) -> LiveResource:
        """Update in place; the default replaces by delete + create."""
        if change.prior is not None:
            self.delete(change.prior)
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Delete the live object (idempotent: gone is fine)."""
        raise NotImplementedError

    def health(self, live: LiveResource) -> Health:
        """Default: a resource that exists is healthy."""
        return Health.healthy()

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        """Default: reading the desired resource is the import."""
        return self.read(resource, None)

    def cleanup(self, resource: Resource) -> list[str]:
        """Remove what a killed create/update/delete of ``resource`` may have left
        half-done beside the object (temp files); recovery calls it for every
        unfinished journal entry. Returns what it removed; default: nothing."""
        return []


class KindProvider:
    """A provider made of ``KindHandler`` s, keyed by kind name."""

    name: ClassVar[str] = ""

    def __init__(self, handlers: Mapping[str, KindHandler]) -> None:
        self._handlers = dict(handlers)
        self._specs = MappingProxyType({k: h.spec for k, h in self._handlers.items()})
        self.config: dict[str, Any] = {}

    def kinds(self) -> Mapping[str, KindSpec]:
        """Each handler's spec (built once: the engine asks per resource)."""
        return self._specs

    def configure(self, config: Mapping[str, Any]) -> None:
        """Keep the settings; subclasses validate them."""
        self.config = dict(config)

    def handler(self, rid: ResourceId) -> KindHandler:
        """The handler for a resource's kind, or a clear error."""
        try:
            return self._handlers[rid.kind]
        except KeyError:
            known = ", ".join(sorted(self._handlers))
            raise ProviderError(
                f"provider '{self.name}' has no kind '{rid.kind}' (kinds: {known})",
                resource=rid,
            ) from None

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """Dispatch to the kind; what it read back keeps no secret of ``resource`` in clear."""
        h = self.handler(resource.id)
        return secure_live(h.spec, resource, h.read(resource, prior))

    def unchanged_since(self, resource: Resource, prior: LiveResource) -> bool:
        """Dispatch to the kind (see ``KindHandler.unchanged_since``)."""
        return self.handler(resource.id).unchanged_since(resource, prior)

    def unchanged_each(self, pairs: Sequence[tuple[Resource, LiveResource]]) -> list[bool]:
        """``unchanged_since`` of each pair, in order, each kind's pairs in one call."""
        by_kind: dict[str, list[int]] = {}
        for i, pair in enumerate(pairs):
            by_kind.setdefault(pair[0].id.kind, []).append(i)
        out = [False] * len(pairs)
        for places in by_kind.values():
            handler = self.handler(pairs[places[0]][0].id)
            for i, same in zip(places, handler.unchanged_each([pairs[i] for i in places]),
                               strict=True):
                out[i] = same
        return out

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Dispatch to the kind, against the secured live view (a no-refresh plan
        passes state's, which may predate digests or the current key)."""
        h = self.handler(desired.id)
        change = h.diff(desired, secure_live(h.spec, desired, live))
        return _settled(h.spec, change, desired)

    def apply(self, change: Change) -> LiveResource | None:
        """Carry out the change; the new live view keeps no secret in clear."""
        h = self.handler(change.id)
        return secure_live(h.spec, change.desired, self._apply(h, change))

    def _apply(self, h: KindHandler, change: Change) -> LiveResource | None:
        """Create, update, replace or delete through the kind's handler."""
        if change.action is Action.DELETE:
            if change.prior is not None:
                h.delete(change.prior)
            return None
        if change.action is Action.CREATE or change.prior is None:
            return h.create(change)
        if change.action is Action.REPLACE:
            h.delete(change.prior)
            return h.create(change)
        if change.action is Action.UPDATE:
            return h.update(change)
        return change.prior

    def health(self, live: LiveResource) -> Health:
        """Dispatch to the kind."""
        return self.handler(live.id).health(live)

    def lookup(self, kind: str, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """No data sources unless a subclass adds them."""
        raise ProviderError(f"provider '{self.name}' has no data source '{kind}'")

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        """Dispatch to the kind; secrets of ``resource`` come back as digests."""
        h = self.handler(resource.id)
        return secure_live(h.spec, resource, h.import_resource(resource, import_id))

    def cleanup(self, resource: Resource) -> list[str]:
        """Dispatch to the kind (an optional seam: recovery looks it up with getattr)."""
        return self.handler(resource.id).cleanup(resource)

    def close(self) -> None:
        """Nothing to release by default."""
