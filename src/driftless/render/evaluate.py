"""Evaluating ``${...}``: variables now, other resources' attributes later.

``resolve_string`` turns one YAML string into its value. References to
resources of the same stack cannot be known while rendering, so a string
holding one becomes a ``Deferred`` that the engine evaluates with live
attributes (``UNKNOWN`` until they exist). Secrets stay wrapped: anything
computed from a ``Sensitive`` value is ``Sensitive``, and messages show
values through ``spell`` (a secret prints as ``(sensitive)``). I/O: ``file``,
``filebase64`` and ``templatefile`` read files the operator's ``Policy`` allows;
``${secret.env:…}``, ``${secret.file:…}`` and ``${secret.cmd:…}`` read what it
allows them (see ``secret_refs``), once per render through the scope's cache.

Strings come from untrusted Git: each top-level evaluation gets a ``Budget``
that bounds what its functions return in all and how deep templates nest,
and a string built by interpolation is sized before it is joined.

``Scope``, ``ResInfo`` and ``EvalError`` live in ``scope``; references
(``var.X``, ``RESOURCE.ATTR``, ...) are resolved in ``paths``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from driftless.model import (
    UNKNOWN,
    Deferred,
    ResourceId,
    Sensitive,
    Unknown,
    reveal,
    sensitive_digest,
)
from driftless.model.values import AttrLookup
from driftless.render.expr import (
    Call,
    ExprSyntaxError,
    ListLit,
    Lit,
    MapLit,
    Node,
    SecretRef,
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
from driftless.render.paths import resolve_path, resource_refs
from driftless.render.scope import EvalError, NotYet, ResInfo, Scope, no_lookup
from driftless.render.secret_refs import KINDS, SecretRefError, resolve_secret
from driftless.render.spell import SECRET, spell
from driftless.render.suggest import did_you_mean

__all__ = ["EvalError", "ResInfo", "Scope", "deferred_again", "resolve_string"]


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
    refs = resource_refs(tpl, scope, _eval)
    if not refs:
        return _render(tpl, scope, no_lookup)
    # each later evaluation gets a budget of its own
    outer = scope if scope.budget is None else replace(scope, budget=None)
    return Deferred(text, frozenset(refs),
                    lambda lookup: _bounded(outer, lambda s: _render(tpl, s, lookup)))


def deferred_again(text: str, refs: frozenset[ResourceId], scope: Scope) -> Deferred:
    """The ``Deferred`` that ``resolve_string(text, scope)`` made when rendering, made
    again without checking the expression (the render that stored it did)."""
    tpl = parse_template(text)
    outer = scope if scope.budget is None else replace(scope, budget=None)
    return Deferred(text, refs, lambda lookup: _bounded(outer, lambda s: _render(tpl, s, lookup)))


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
    secrets = {ref: v for ref, v in scope.secrets.values() if ref in text}
    if secrets:  # only then: digests of renders without secret references stay the same
        doc["secrets"] = secrets
    return json.dumps(doc, sort_keys=True, default=_digestable)


def _digestable(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return sensitive_digest(reveal(value))
    return str(value)


def _check(node: Node, scope: Scope) -> None:
    """Raise ``EvalError`` for unknown names anywhere in ``node``."""
    if isinstance(node, ListLit | Call):
        if isinstance(node, Call) and node.name not in FUNCTIONS:
            _call(node, scope, no_lookup)  # raises the unknown-function error
        for child in node.items if isinstance(node, ListLit) else node.args:
            _check(child, scope)
    elif isinstance(node, MapLit):
        for _, child in node.pairs:
            _check(child, scope)
    elif isinstance(node, SecretRef):
        _secret(node, scope)  # refused or missing now, at the reference's line
    elif isinstance(node, PathNode):
        for step in node.steps:
            if step is not None and not isinstance(step, str):
                _check(step, scope)
        with contextlib.suppress(NotYet):
            resolve_path(node, scope, no_lookup, _eval)


def _render(tpl: Template, scope: Scope, lookup: AttrLookup) -> Any:
    try:
        single = tpl.single
        if single is not None:
            return _eval(single, scope, lookup)
        values = [p if isinstance(p, str) else _eval(p, scope, lookup) for p in tpl.parts]
    except NotYet:
        return UNKNOWN
    if any(isinstance(v, Unknown) for v in values):
        return UNKNOWN
    secret = any(isinstance(v, Sensitive) for v in values)
    plain = [reveal(v) for v in values] if secret else values
    texts = [_to_text(v, off) for v, off in zip(plain, tpl.offsets, strict=True)]
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
    if isinstance(node, SecretRef):
        return _secret(node, scope)
    return resolve_path(node, scope, lookup, _eval)


def _secret(node: SecretRef, scope: Scope) -> Any:
    """An external secret, if the operator allows it; resolved once per render (cached).

    Where secrets are optional (validate, plan --no-secrets) a reference that
    cannot be resolved here is a placeholder known only after apply.
    """
    try:
        return resolve_secret(node.kind, node.arg, scope.policy, scope.root, scope.secrets)
    except SecretRefError as exc:
        if scope.secrets.on_missing is not None and node.kind in KINDS:
            scope.secrets.missing(node.kind, node.arg, exc)
            return UNKNOWN
        raise EvalError(str(exc), node.offset, hint=exc.hint) from None


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
    unknown, secret = _unknown_and_secret(raw)
    if unknown:
        return UNKNOWN
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


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _unknown_and_secret(value: Any) -> tuple[bool, bool]:
    """``(contains_unknown(value), contains_sensitive(value))`` in one iterative walk.

    Function arguments are walked on every call (a map variable passed to
    ``lookup`` in each of 10,000 instances), so plain scalars are skipped by
    class and the walk stops once both are found. Like those two, it does not
    look inside a secret for unknown values.
    """
    unknown = secret = False
    todo = [value]
    while todo and not (unknown and secret):
        v = todo.pop()
        if v.__class__ in _PLAIN:
            continue
        if isinstance(v, Sensitive):
            secret = True
        elif isinstance(v, Unknown | Deferred):
            unknown = True
        elif isinstance(v, Mapping):
            todo.extend(v.values())
        elif isinstance(v, list | tuple):
            todo.extend(v)
    return unknown, secret


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
