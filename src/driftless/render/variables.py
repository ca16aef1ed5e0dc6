"""Typed stack variables: declarations, sources in precedence order, checks.

A stack declares each variable with a type (string, integer, number,
boolean, list, map, object), an optional default (without one it is
required), a description, checks (minimum, maximum, pattern, enum) and
``sensitive``. Values come from several sources, lowest precedence first:
declaration default < overlays < environments/<env>.yaml < DRIFTLESS_VAR_x
< --var-file (in order) < --var. Every problem in every source is reported
together. Values of sensitive variables never appear in messages. Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from driftless.errors import Problem
from driftless.model import Sensitive
from driftless.render.suggest import did_you_mean
from driftless.render.yamlio import Loc, problem_at, where

__all__ = ["TYPES", "ValueSource", "VarDecl", "parse_declarations", "resolve_variables"]

TYPES = ("string", "integer", "number", "boolean", "list", "map", "object")
_DECL_KEYS = frozenset({"type", "default", "description", "minimum", "maximum", "pattern",
                        "enum", "sensitive", "items", "values", "fields"})
_MISSING: Any = object()


@dataclass(frozen=True)
class VarDecl:
    """One declared variable."""

    name: str
    type: str
    default: Any
    description: str
    checks: Mapping[str, Any]
    sensitive: bool
    loc: Loc | None

    @property
    def required(self) -> bool:
        """Whether a value must be given (there is no default)."""
        return self.default is _MISSING

    @property
    def has_default(self) -> bool:
        """Whether the declaration has a default value."""
        return self.default is not _MISSING


@dataclass(frozen=True)
class ValueSource:
    """Values from one place: a label for messages, and where each was written."""

    label: str
    values: Mapping[str, Any]
    locs: Mapping[str, Loc]
    from_text: bool = False  # --var and environment variables arrive as strings


def parse_declarations(raw: Any, problems: list[Problem]) -> dict[str, VarDecl]:
    """Declarations from a stack's ``variables:``; problems are appended."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(problem_at("'variables' must be a map of name: declaration", where(raw)))
        return {}
    out: dict[str, VarDecl] = {}
    for name, body in raw.items():
        decl = _declaration(name, body, where(raw, name), problems)
        if decl is not None:
            out[name] = decl
    return out


def _declaration(name: str, body: Any, loc: Loc | None, problems: list[Problem]) -> VarDecl | None:
    if not isinstance(body, Mapping):
        body = {"type": _infer_type(body), "default": body}
    unknown = sorted(set(body) - _DECL_KEYS)
    for key in unknown:
        problems.append(problem_at(f"variable '{name}': unknown key '{key}'", where(body, key),
                                   hint=did_you_mean(key, _DECL_KEYS)))
    vtype = body.get("type", "string")
    if vtype not in TYPES:
        hint = did_you_mean(str(vtype), TYPES) or f"types: {', '.join(TYPES)}"
        problems.append(problem_at(f"variable '{name}': unknown type '{vtype}'",
                                   where(body, "type"), hint=hint))
        return None
    checks = {k: body[k] for k in ("minimum", "maximum", "pattern", "enum", "items", "values",
                                   "fields") if k in body}
    decl = VarDecl(name, vtype, body.get("default", _MISSING), str(body.get("description", "")),
                   checks, bool(body.get("sensitive", False)), loc)
    if decl.has_default and decl.default is not None:
        for msg in check_value(decl, decl.default):
            problems.append(problem_at(f"variable '{name}' default: {msg}", where(body, "default")))
    return decl


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, list):
        return "list"
    return "map" if isinstance(value, Mapping) else "string"


def check_value(decl: VarDecl, value: Any) -> list[str]:
    """Type and check problems for a value (never quoting a secret)."""
    return _check(decl.type, decl.checks, value, decl.sensitive)


def _check(vtype: str, checks: Mapping[str, Any], value: Any, secret: bool) -> list[str]:
    shown = "the value" if secret else repr(value)
    if not _is_type(vtype, value):
        return [f"expected {_article(vtype)} but got {shown} ({_kind(value)})"]
    out: list[str] = []
    if "minimum" in checks and vtype in ("integer", "number") and value < checks["minimum"]:
        out.append(f"{shown} is below the minimum {checks['minimum']}")
    if "maximum" in checks and vtype in ("integer", "number") and value > checks["maximum"]:
        out.append(f"{shown} is above the maximum {checks['maximum']}")
    pattern = checks.get("pattern")
    if pattern is not None and vtype == "string" and re.fullmatch(str(pattern), value) is None:
        out.append(f"{shown} does not match the pattern '{pattern}'")
    enum = checks.get("enum")
    if enum is not None and value not in enum:
        out.append(f"{shown} is not one of: {', '.join(str(e) for e in enum)}")
    return out + _check_children(vtype, checks, value, secret)


def _check_children(vtype: str, checks: Mapping[str, Any], value: Any, secret: bool) -> list[str]:
    out: list[str] = []
    if vtype == "list" and "items" in checks:
        for i, item in enumerate(value):
            out += [f"item {i}: {m}" for m in _check(str(checks["items"]), {}, item, secret)]
    if vtype == "map" and "values" in checks:
        for key, item in value.items():
            out += [f"key '{key}': {m}" for m in _check(str(checks["values"]), {}, item, secret)]
    if vtype == "object" and isinstance(checks.get("fields"), Mapping):
        out += _check_fields(checks["fields"], value, secret)
    return out


def _check_fields(fields: Mapping[str, Any], value: Mapping[str, Any], secret: bool) -> list[str]:
    out = [f"unknown field '{k}'" + (f" ({did_you_mean(k, fields)})" if did_you_mean(k, fields)
                                     else "") for k in value if k not in fields]
    for name, spec in fields.items():
        spec = spec if isinstance(spec, Mapping) else {"type": str(spec)}
        if name not in value:
            if "default" not in spec:
                out.append(f"missing field '{name}'")
            continue
        sub = {k: v for k, v in spec.items() if k not in ("type", "default", "description")}
        out += [f"field '{name}': {m}" for m in
                _check(str(spec.get("type", "string")), sub, value[name], secret)]
    return out


def _is_type(vtype: str, value: Any) -> bool:
    if vtype == "string":
        return isinstance(value, str)
    if vtype == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if vtype == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(value)
    if vtype == "boolean":
        return isinstance(value, bool)
    if vtype == "list":
        return isinstance(value, list)
    return isinstance(value, Mapping)


def _article(vtype: str) -> str:
    return f"an {vtype}" if vtype[0] in "aeiou" else f"a {vtype}"


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string",
            type(None): "null"}.get(type(value), "list" if isinstance(value, list) else "map")


def from_text(decl: VarDecl, text: str) -> Any:
    """A value given as text (``--var``, environment) in the declared type."""
    if decl.type == "string":
        return text
    if decl.type == "boolean" and text.lower() in ("true", "false", "yes", "no", "1", "0"):
        return text.lower() in ("true", "yes", "1")
    try:
        value = yaml.load(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return text
    if decl.type == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def resolve_variables(decls: Mapping[str, VarDecl], sources: list[ValueSource], *,
                      where_hint: str, problems: list[Problem]) -> dict[str, Any]:
    """Final values by precedence (later sources win); problems are appended."""
    chosen: dict[str, tuple[Any, ValueSource | None]] = {
        n: (d.default, None) for n, d in decls.items() if d.has_default}
    for source in sources:
        for name, value in source.values.items():
            if name in decls:
                chosen[name] = (value, source)
    missing = [d for n, d in decls.items() if n not in chosen]
    for decl in missing:
        problems.append(problem_at(
            f"variable '{decl.name}' is required and has no value", decl.loc,
            hint=f"set it {where_hint}, with --var {decl.name}=..., or DRIFTLESS_VAR_{decl.name}"))
    return {name: _final(decls[name], value, src, problems)
            for name, (value, src) in sorted(chosen.items())}


def _final(decl: VarDecl, value: Any, src: ValueSource | None, problems: list[Problem]) -> Any:
    if src is not None and src.from_text and isinstance(value, str):
        value = from_text(decl, value)
    if src is not None and not (value is None and decl.has_default and decl.default is None):
        for msg in check_value(decl, value):
            loc = src.locs.get(decl.name)
            if loc is None:
                problems.append(Problem(f"variable '{decl.name}': {msg}", src.label))
            else:
                problems.append(problem_at(f"variable '{decl.name}' from {src.label}: {msg}", loc))
    return Sensitive(value) if decl.sensitive else value


def unknown_names(given: Mapping[str, Loc | None], known: set[str], label: str) -> list[Problem]:
    """Problems for values given for variables no stack declares."""
    out = []
    for name, loc in sorted(given.items()):
        if name not in known:
            hint = did_you_mean(name, known) or "declare it in a stack's variables:"
            message = f"unknown variable '{name}' in {label}"
            out.append(problem_at(message, loc, hint=hint) if loc else
                       Problem(message, label, hint=hint))
    return out

