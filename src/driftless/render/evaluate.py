"""Evaluating ``${...}``: variables now, other resources' attributes later.

``resolve_string`` turns one YAML string into its value. References to
resources of the same stack cannot be known while rendering, so a string
holding one becomes a ``Deferred`` that the engine evaluates with live
attributes (``UNKNOWN`` until they exist). Secrets stay wrapped: anything
computed from a ``Sensitive`` value is ``Sensitive``, and messages show
values through ``spell`` (a secret prints as ``(sensitive)``). I/O: ``file``,
``filebase64`` and ``templatefile`` read files the operator's ``Policy`` allows.

Strings come from untrusted Git: each top-level evaluation gets a ``Budget``
that bounds what its functions return in all and how deep templates nest,
and a string built by interpolation is sized before it is joined.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from driftless.model import (
    UNKNOWN,
    Deferred,
    ResourceId,
    Sensitive,
    Unknown,
    contains_sensitive,
    contains_unknown,
    reveal,
    sensitive_digest,
)
from driftless.model.policy import Policy
from driftless.model.values import AttrLookup
from driftless.render.expr import (
    Call,
    ExprSyntaxError,
    ListLit,
    Lit,
    MapLit,
    Node,
    Template,
    parse_template,
)
from driftless.render.expr import (
    Path as PathNode,
)
from driftless.render.functions import (
    FUNCTIONS,
    MAX_TEMPLATE_DEPTH,
    TEMPLATE_COST,
    Args,
    Budget,
    FunctionError,
    check_size,
    read_template,
)
from driftless.render.spell import SECRET, kind, spell
from driftless.render.suggest import did_you_mean

__all__ = ["EvalError", "ResInfo", "Scope", "resolve_string"]

_RESERVED = ("var", "each", "count", "stack")


class EvalError(ValueError):
    """An expression that cannot be evaluated; ``offset`` points into the string."""

    def __init__(self, message: str, offset: int = 0, hint: str | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.hint = hint


class _NotYet(Exception):
    """A referenced resource's attribute is not known yet."""


@dataclass(frozen=True)
class ResInfo:
    """A resource as references see it: its ids by index (None when not repeated)."""

    ids: Mapping[int | str | None, ResourceId]
    mode: str = ""  # "", "count" or "for_each"


@dataclass(frozen=True)
class Scope:
    """Everything names in an expression can refer to."""

    variables: Mapping[str, Any]
    resources: Mapping[str, ResInfo] = field(default_factory=dict)
    stack_outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    base_dir: Path = Path(".")
    root: Path = Path(".")
    count_index: int | None = None
    each: tuple[Any, Any] | None = None
    locals_only: Mapping[str, Any] | None = None  # templatefile: bare names only
    allow_resources: bool = True
    policy: Policy = field(default_factory=Policy)  # the operator's: readable roots, limits
    budget: Budget | None = field(default=None, compare=False)  # set per evaluation


def resolve_string(text: str, scope: Scope) -> Any:
    """The value of a YAML string (the string itself when it has no ``${``)."""
    try:
        tpl = parse_template(text)
    except ExprSyntaxError as exc:
        raise EvalError(f"invalid expression: {exc}", exc.offset) from None
    if tpl.literal is not None:
        return tpl.literal
    if not tpl.calls:  # no function can grow a string: skip the budget's scope copy
        return _unbudgeted(text, tpl, scope)
    return _bounded(scope, lambda s: _resolve(text, tpl, s))


def _unbudgeted(text: str, tpl: Template, scope: Scope) -> Any:
    try:
        return _resolve(text, tpl, scope)
    except RecursionError:
        raise EvalError("the expression nests too deeply", 0) from None


def _resolve(text: str, tpl: Template, scope: Scope) -> Any:
    for part in tpl.parts:
        if not isinstance(part, str):
            _check(part, scope)  # every unknown name now, even next to a deferred one
    refs = _resource_refs(tpl, scope)
    if not refs:
        return _render(tpl, scope, _no_lookup)
    # each later evaluation gets a budget of its own
    outer = scope if scope.budget is None else replace(scope, budget=None)
    return Deferred(text, frozenset(refs),
                    lambda lookup: _bounded(outer, lambda s: _render(tpl, s, lookup)))


def _bounded(scope: Scope, run: Any) -> Any:
    """Run an evaluation under a fresh ``Budget`` unless one is already running.

    The parser bounds nesting, so RecursionError should not happen; if it
    does (templates inside templates on a small stack) it is an error with
    an offset, not a traceback.
    """
    if scope.budget is not None:
        return run(scope)
    try:
        return run(replace(scope, budget=Budget(scope.policy)))
    except RecursionError:
        raise EvalError("the expression nests too deeply", 0) from None


def binding_digest(text: str, scope: Scope) -> str:
    """What a ``Deferred`` depends on besides resources, for the render digest."""
    used = {k: v for k, v in scope.variables.items() if f"var.{k}" in text}
    stacks = {k: v for k, v in scope.stack_outputs.items() if f"stack.{k}." in text}
    doc = {"vars": used, "stacks": stacks, "count": scope.count_index, "each": scope.each}
    return json.dumps(doc, sort_keys=True, default=_digestable)


def _digestable(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return sensitive_digest(reveal(value))
    return str(value)


def _check(node: Node, scope: Scope) -> None:
    """Raise ``EvalError`` for unknown names anywhere in ``node``."""
    if isinstance(node, ListLit | Call):
        if isinstance(node, Call) and node.name not in FUNCTIONS:
            _call(node, scope, _no_lookup)  # raises the unknown-function error
        for child in node.items if isinstance(node, ListLit) else node.args:
            _check(child, scope)
    elif isinstance(node, MapLit):
        for _, child in node.pairs:
            _check(child, scope)
    elif isinstance(node, PathNode):
        for step in node.steps:
            if step is not None and not isinstance(step, str):
                _check(step, scope)
        with contextlib.suppress(_NotYet):
            _path(node, scope, _no_lookup)


def _no_lookup(_rid: ResourceId) -> Mapping[str, Any] | None:
    return None


def _render(tpl: Template, scope: Scope, lookup: AttrLookup) -> Any:
    try:
        single = tpl.single
        if single is not None:
            return _eval(single, scope, lookup)
        values = [p if isinstance(p, str) else _eval(p, scope, lookup) for p in tpl.parts]
    except _NotYet:
        return UNKNOWN
    if any(isinstance(v, Unknown) for v in values):
        return UNKNOWN
    secret = any(isinstance(v, Sensitive) for v in values)
    texts = [_to_text(reveal(v), off) for v, off in zip(values, tpl.offsets, strict=True)]
    try:
        check_size(sum(map(len, texts)), scope.policy, "the string")
    except FunctionError as exc:
        raise EvalError(str(exc), tpl.offsets[0], hint=exc.hint) from None
    text = "".join(texts)
    return Sensitive.derived(text, values) if secret else text


def _to_text(value: Any, offset: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 10_000:  # str() refuses more than 4300 digits
            raise EvalError("an integer too long to print cannot be part of a string", offset)
        return str(value)
    if isinstance(value, float):
        return str(value) if value == value and abs(value) != float("inf") else spell(value)
    if value is None:
        return ""
    raise EvalError(
        "a list or map cannot be part of a string", offset,
        hint="use join(...) or jsonencode(...) to turn it into text",
    )


def _eval(node: Node, scope: Scope, lookup: AttrLookup) -> Any:
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, ListLit):
        return _wrap_if_secret([_eval(i, scope, lookup) for i in node.items])
    if isinstance(node, MapLit):
        return _wrap_if_secret({k: _eval(v, scope, lookup) for k, v in node.pairs})
    if isinstance(node, Call):
        return _call(node, scope, lookup)
    return _path(node, scope, lookup)


def _wrap_if_secret(value: list[Any] | dict[str, Any]) -> Any:
    items = value.values() if isinstance(value, dict) else value
    if any(isinstance(v, Sensitive) for v in items):
        return Sensitive.derived(reveal(value), value)
    return value


def _call(node: Call, scope: Scope, lookup: AttrLookup) -> Any:
    if node.name not in FUNCTIONS:
        raise EvalError(
            f"unknown function '{node.name}'", node.offset,
            hint=did_you_mean(node.name, FUNCTIONS) or f"functions: {', '.join(FUNCTIONS)}",
        )
    raw = tuple(_eval(a, scope, lookup) for a in node.args)
    if contains_unknown(raw):
        return UNKNOWN
    secret = contains_sensitive(raw)
    budget = scope.budget if scope.budget is not None else Budget(scope.policy)
    args = Args(raw, scope.base_dir, scope.root, budget)
    try:
        result = _apply(node.name, args, scope)
        plain = result.value if isinstance(result, Sensitive) else result
        budget.charge(len(plain) if isinstance(plain, str) else 0)
    except FunctionError as exc:
        message = _scrub(f"{node.name}(): {exc}", raw) if secret else f"{node.name}(): {exc}"
        hint = _scrub(exc.hint, raw) if secret and exc.hint else exc.hint
        raise EvalError(message, node.offset, hint=hint) from None
    if secret or isinstance(result, Sensitive):
        return Sensitive.derived(reveal(result), (raw, result))
    return result


def _scrub(text: str, raw: Any) -> str:
    """Defence in depth: any secret text that still reached a message becomes (sensitive)."""
    for secret in sorted(_secret_texts(raw, False), key=len, reverse=True):
        text = text.replace(secret, SECRET)
    return text


def _secret_texts(value: Any, secret: bool) -> set[str]:
    """Printable forms (3 characters or more) of every scalar inside a secret."""
    if isinstance(value, Sensitive):
        return _secret_texts(value.value, True)
    if isinstance(value, Mapping):
        keys = {str(k) for k in value if secret and len(str(k)) >= 3}
        return keys.union(*(_secret_texts(v, secret) for v in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(_secret_texts(v, secret) for v in value))
    if not secret or value is None or isinstance(value, bool):
        return set()
    text = value if isinstance(value, str) else repr(value)
    return {t for t in (text, repr(text)[1:-1]) if len(t) >= 3}


def _apply(name: str, args: Args, scope: Scope) -> Any:
    fn = FUNCTIONS[name]
    if fn is not None:
        return fn(args)
    return _templatefile(args, scope)


def _templatefile(args: Args, scope: Scope) -> Any:
    """A template evaluated with only the given values; it may not include itself."""
    args.arity(2, 2, "(path, map of values) like templatefile(\"a.tmpl\", {port: 80})")
    values = args.raw[1]
    if not isinstance(reveal(values), Mapping):
        raise FunctionError("takes (path, map of values) like templatefile(\"a.tmpl\", "
                            "{port: 80})")
    path, text = read_template(args, 0)
    args.budget.charge(TEMPLATE_COST + len(text))  # parsing and walking it cost time
    stack = args.budget.templates
    if path in stack:
        raise FunctionError(f"{args.shown(0)} includes itself through templatefile")
    if len(stack) >= MAX_TEMPLATE_DEPTH:
        raise FunctionError(f"templates nest more than {MAX_TEMPLATE_DEPTH} deep")
    inner = replace(scope, locals_only=_locals(values), allow_resources=False)
    stack.append(path)
    try:
        return resolve_string(text, inner)
    except EvalError as exc:
        raise FunctionError(f"in template {args.shown(0)}: {exc}", hint=exc.hint) from None
    finally:
        stack.pop()


def _locals(values: Any) -> dict[str, Any]:
    """Template values; in a secret map each value stays secret inside the template."""
    if isinstance(values, Sensitive):
        return {k: Sensitive(v) for k, v in reveal(values).items()}
    return dict(values)


def _path(node: PathNode, scope: Scope, lookup: AttrLookup) -> Any:
    if scope.locals_only is not None:
        return _walk(_root_local(node, scope.locals_only), node.steps, node, scope, lookup)
    if node.root == "var":
        return _walk(_var(node, scope), node.steps[1:], node, scope, lookup)
    if node.root == "count":
        return _count(node, scope)
    if node.root == "each":
        return _each(node, scope, lookup)
    if node.root == "stack":
        return _stack_output(node, scope)
    return _resource(node, scope, lookup)


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


def _each(node: PathNode, scope: Scope, lookup: AttrLookup) -> Any:
    if scope.each is None:
        raise EvalError("'each' is only available in a resource with for_each:", node.offset)
    if not node.steps or node.steps[0] not in ("key", "value"):
        raise EvalError(f"unknown reference '{node.text}'", node.offset,
                        hint="use each.key or each.value")
    value = scope.each[0] if node.steps[0] == "key" else scope.each[1]
    return _walk(value, node.steps[1:], node, scope, lookup)


def _stack_output(node: PathNode, scope: Scope) -> Any:
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
    return _walk(outputs[name], steps[3:], node, scope, _no_lookup)


def _instances(node: PathNode, scope: Scope, info: ResInfo) -> tuple[list[ResourceId], int]:
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
    raw = _eval(node.steps[0], scope, _no_lookup)
    key = reveal(raw)
    if not _hashable(key) or key not in info.ids:
        known = ", ".join(spell(k) for k in list(info.ids)[:10]) or "none"
        raise EvalError(f"'{node.root}' has no instance [{spell(raw)}] (has: {known})",
                        node.offset)
    return [info.ids[key]], 1


def _hashable(key: Any) -> bool:
    """Whether ``key`` can be looked up in a dict (a list or map index cannot)."""
    return isinstance(key, str | int | float | bool) or key is None


def _resource(node: PathNode, scope: Scope, lookup: AttrLookup) -> Any:
    info = scope.resources.get(node.root)
    if info is None or not scope.allow_resources:
        names = [*_RESERVED, *scope.resources]
        raise EvalError(
            f"unknown reference '{node.text}'", node.offset,
            hint=did_you_mean(node.root, names)
            or "references are var.NAME, RESOURCE.ATTR, stack.NAME.outputs.X, each.*, count.index",
        )
    rids, used = _instances(node, scope, info)
    rest = node.steps[used:]
    values = [_walk(_attrs(rid, lookup), rest, node, scope, lookup) for rid in rids]
    splat = bool(info.mode) and node.steps[0] is None
    return values if splat else values[0]


def _attrs(rid: ResourceId, lookup: AttrLookup) -> Mapping[str, Any]:
    attrs = lookup(rid)
    if attrs is None:
        raise _NotYet
    return _Live(attrs)


def _walk(value: Any, steps: tuple[Any, ...], node: PathNode, scope: Scope,
          lookup: AttrLookup) -> Any:
    secret = isinstance(value, Sensitive)
    for step in steps:
        secret = secret or isinstance(value, Sensitive)
        value = value.value if isinstance(value, Sensitive) else value
        if step is None:
            raise EvalError("[*] only applies to a resource with count or for_each", node.offset)
        key = step if isinstance(step, str) else _eval(step, scope, lookup)
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
            raise _NotYet
        hint = None if secret or isinstance(raw, Sensitive) else did_you_mean(str(key), value)
        raise EvalError(f"'{node.text}': no key {shown}", node.offset, hint=hint)
    if isinstance(value, list | tuple):
        idx = int(key) if isinstance(key, str) and key.isdigit() and len(key) < 19 else key
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


def _resource_refs(tpl: Template, scope: Scope) -> set[ResourceId]:
    out: set[ResourceId] = set()
    for part in tpl.parts:
        if not isinstance(part, str):
            _collect(part, scope, out)
    return out


def _collect(node: Node, scope: Scope, out: set[ResourceId]) -> None:
    if isinstance(node, ListLit | Call):
        for child in node.items if isinstance(node, ListLit) else node.args:
            _collect(child, scope, out)
    elif isinstance(node, MapLit):
        for _, child in node.pairs:
            _collect(child, scope, out)
    elif isinstance(node, PathNode) and scope.locals_only is None:
        info = scope.resources.get(node.root)
        if info is not None and node.root not in _RESERVED and scope.allow_resources:
            out.update(_instances(node, scope, info)[0])
