"""References in ``${...}``: ``var.NAME``, ``count.index``, ``each.key``,
``stack.NAME.outputs.X``, ``RESOURCE.ATTR`` and the steps into their values.

A reference to a resource whose attributes are not known yet raises
``NotYet`` (the string becomes ``UNKNOWN`` or a ``Deferred``); a step into a
secret keeps the result secret, and messages hide secret keys. Index and
step expressions are evaluated through the ``evaluate`` callback the
evaluator passes in, so this module does not import it. I/O: none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from driftless.model import ResourceId, Sensitive, reveal
from driftless.model.values import AttrLookup
from driftless.render.expr import Call, ListLit, MapLit, Node, Template
from driftless.render.expr import (
    Path as PathNode,
)
from driftless.render.inputs import not_cacheable
from driftless.render.scope import RESERVED, EvalError, NotYet, ResInfo, Scope, no_lookup
from driftless.render.spell import kind, spell
from driftless.render.suggest import did_you_mean

__all__ = ["Evaluate", "lookup_is_live", "resolve_path", "resource_refs"]

_SECRET_HINT = ("external secrets are written secret.env:NAME, secret.file:/PATH or "
                "secret.cmd:COMMAND (with a ':')")

# The evaluator's ``_eval``: the value of an expression node in a scope.
Evaluate = Callable[[Node, Scope, AttrLookup], Any]


def resolve_path(node: PathNode, scope: Scope, lookup: AttrLookup, evaluate: Evaluate) -> Any:
    """The value a reference names; ``NotYet`` when a resource's attributes are unknown."""
    if scope.locals_only is not None:
        return _walk(_root_local(node, scope.locals_only), node.steps, node, scope, lookup,
                     evaluate)
    if node.root == "var":
        return _walk(_var(node, scope), node.steps[1:], node, scope, lookup, evaluate)
    if node.root == "count":
        return _count(node, scope)
    if node.root == "each":
        return _each(node, scope, lookup, evaluate)
    if node.root == "stack":
        return _stack_output(node, scope, evaluate)
    if node.root == "host" and scope.host is not None:
        # a cached render rebuilds its deferred values without the host: do not cache it
        not_cacheable("uses host.*")
        return _walk(scope.host, node.steps, node, scope, lookup, evaluate)
    if node.root == "node" and scope.node is not None:
        not_cacheable("uses node.*")  # per node, like host.*
        return _walk(scope.node, node.steps, node, scope, lookup, evaluate)
    return _resource(node, scope, lookup, evaluate)


def _root_local(node: PathNode, values: Mapping[str, Any]) -> Any:
    if node.root not in values:
        raise EvalError(
            f"unknown template value '{node.root}'", node.offset,
            hint=did_you_mean(node.root, values) or "pass it in templatefile's map",
        )
    return values[node.root]


def _var(node: PathNode, scope: Scope) -> Any:
    if not node.steps or not isinstance(node.steps[0], str):
        raise EvalError("write a variable as var.NAME", node.offset)
    name = node.steps[0]
    if name not in scope.variables:
        raise EvalError(
            f"unknown variable 'var.{name}'", node.offset,
            hint=did_you_mean(name, scope.variables) or "declare it under variables:",
        )
    return scope.variables[name]


def _count(node: PathNode, scope: Scope) -> Any:
    if scope.count_index is None:
        raise EvalError("'count.index' is only available in a resource with count:", node.offset)
    if node.steps != ("index",):
        raise EvalError(f"unknown reference '{node.text}'", node.offset, hint="use count.index")
    return scope.count_index


def _each(node: PathNode, scope: Scope, lookup: AttrLookup, evaluate: Evaluate) -> Any:
    if scope.each is None:
        raise EvalError("'each' is only available in a resource with for_each:", node.offset)
    if not node.steps or node.steps[0] not in ("key", "value"):
        raise EvalError(f"unknown reference '{node.text}'", node.offset,
                        hint="use each.key or each.value")
    value = scope.each[0] if node.steps[0] == "key" else scope.each[1]
    return _walk(value, node.steps[1:], node, scope, lookup, evaluate)


def _stack_output(node: PathNode, scope: Scope, evaluate: Evaluate) -> Any:
    steps = node.steps
    if len(steps) < 3 or steps[1] != "outputs" or not all(isinstance(s, str) for s in steps[:3]):
        raise EvalError("write a stack output as stack.NAME.outputs.OUTPUT", node.offset)
    other, name = str(steps[0]), str(steps[2])
    outputs = scope.stack_outputs.get(other)
    if outputs is None or name not in outputs:
        hint = did_you_mean(name, outputs) if outputs else None
        raise EvalError(
            f"stack '{other}' has no output '{name}' yet", node.offset,
            hint=hint or f"apply stack '{other}' first, or check the output name in its "
            "stack.yaml",
        )
    return _walk(outputs[name], steps[3:], node, scope, no_lookup, evaluate)


def _unknown_hint(root: str, names: list[str]) -> str:
    """A did-you-mean, or what references look like; ``secret.x`` is a secret missing its ':'."""
    if root == "secret":
        return _SECRET_HINT
    return did_you_mean(root, names) or ("references are var.NAME, RESOURCE.ATTR, "
                                         "stack.NAME.outputs.X, each.*, count.index")


def _instances(node: PathNode, scope: Scope, info: ResInfo,
               evaluate: Evaluate) -> tuple[list[ResourceId], int]:
    """The ids a reference names and how many steps that took (1 when indexed)."""
    if not info.mode:
        if node.steps and not isinstance(node.steps[0], str):
            raise EvalError(f"'{node.root}' has neither count nor for_each; write "
                            f"{node.root}.ATTRIBUTE", node.offset)
        return [info.ids[None]], 0
    if not node.steps or isinstance(node.steps[0], str):
        raise EvalError(
            f"'{node.root}' has {info.mode}; pick one with {node.root}[KEY] or all with "
            f"{node.root}[*]", node.offset,
        )
    if node.steps[0] is None:
        return list(info.ids.values()), 1
    raw = evaluate(node.steps[0], scope, no_lookup)
    key = reveal(raw)
    if not _hashable(key) or key not in info.ids:
        known = ", ".join(spell(k) for k in list(info.ids)[:10]) or "none"
        raise EvalError(f"'{node.root}' has no instance [{spell(raw)}] (has: {known})",
                        node.offset)
    return [info.ids[key]], 1


def _hashable(key: Any) -> bool:
    """Whether ``key`` can be looked up in a dict (a list or map index cannot)."""
    return isinstance(key, str | int | float | bool) or key is None


def _resource(node: PathNode, scope: Scope, lookup: AttrLookup, evaluate: Evaluate) -> Any:
    info = scope.resources.get(node.root)
    if info is None or not scope.allow_resources:
        names = [*RESERVED, *scope.resources]
        raise EvalError(
            f"unknown reference '{node.text}'", node.offset,
            hint=_unknown_hint(node.root, names),
        )
    rids, used = _instances(node, scope, info, evaluate)
    rest = node.steps[used:]
    values = [_walk(_attrs(rid, lookup), rest, node, scope, lookup, evaluate) for rid in rids]
    splat = bool(info.mode) and node.steps[0] is None
    return values if splat else values[0]


def _attrs(rid: ResourceId, lookup: AttrLookup) -> Mapping[str, Any]:
    attrs = lookup(rid)
    if attrs is None:
        raise NotYet
    return _Live(attrs)


def _walk(value: Any, steps: tuple[Any, ...], node: PathNode, scope: Scope,
          lookup: AttrLookup, evaluate: Evaluate) -> Any:
    secret = isinstance(value, Sensitive)
    for step in steps:
        secret = secret or isinstance(value, Sensitive)
        value = value.value if isinstance(value, Sensitive) else value
        if step is None:
            raise EvalError("[*] only applies to a resource with count or for_each", node.offset)
        key = step if isinstance(step, str) else evaluate(step, scope, lookup)
        value = _step(value, key, node, secret)
    return Sensitive(reveal(value)) if secret and not isinstance(value, Sensitive) else value


def _step(value: Any, raw: Any, node: PathNode, secret: bool) -> Any:
    """``value[key]``; messages hide the key when it is secret and the keys of a secret."""
    key = reveal(raw)
    shown = spell(raw)
    if isinstance(value, Mapping):
        if _hashable(key) and key in value:
            return value[key]
        if lookup_is_live(value):
            raise NotYet
        hint = None if secret or isinstance(raw, Sensitive) else did_you_mean(str(key), value)
        raise EvalError(f"'{node.text}': no key {shown}", node.offset, hint=hint)
    if isinstance(value, list | tuple):
        idx = int(key) if isinstance(key, str) and key.isdecimal() and len(key) < 19 else key
        if isinstance(idx, int) and not isinstance(idx, bool) and -len(value) <= idx < len(value):
            return value[idx]
        raise EvalError(f"'{node.text}': index {shown} is out of range (the list has "
                        f"{len(value)} items)", node.offset)
    raise EvalError(f"'{node.text}': cannot look up {shown} in {_a(kind(value))}", node.offset)


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


class _Live(dict[str, Any]):
    """Marks live attributes: a missing key there is unknown, not an error."""


def lookup_is_live(value: Mapping[str, Any]) -> bool:
    """Whether ``value`` came from a live resource (see ``_attrs``)."""
    return isinstance(value, _Live)


def resource_refs(tpl: Template, scope: Scope, evaluate: Evaluate) -> set[ResourceId]:
    """The resources a template refers to (what its ``Deferred`` waits for)."""
    out: set[ResourceId] = set()
    for part in tpl.parts:
        if not isinstance(part, str):
            _collect(part, scope, out, evaluate)
    return out


def _collect(node: Node, scope: Scope, out: set[ResourceId], evaluate: Evaluate) -> None:
    if isinstance(node, ListLit | Call):
        for child in node.items if isinstance(node, ListLit) else node.args:
            _collect(child, scope, out, evaluate)
    elif isinstance(node, MapLit):
        for _, child in node.pairs:
            _collect(child, scope, out, evaluate)
    elif isinstance(node, PathNode) and scope.locals_only is None:
        info = scope.resources.get(node.root)
        if info is not None and node.root not in RESERVED and scope.allow_resources:
            out.update(_instances(node, scope, info, evaluate)[0])
