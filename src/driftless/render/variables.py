"""Typed stack variables: declarations, sources in precedence order, checks.

A stack declares each variable with a type (string, integer, number,
boolean, list, map, object), an optional default (without one it is
required), a description, checks (minimum, maximum, pattern, enum) and
``sensitive``. Values come from several sources, lowest precedence first:
declaration default < overlays < environments/<env>.yaml < DRIFTLESS_VAR_x
< --var-file (in order) < --var (``values`` has the full list, with SOPS
files). Every problem in every source is reported together. Values of
sensitive variables never appear in messages, nor do values that arrive
``Sensitive`` (decrypted from SOPS), which stay wrapped. Pure.

When secrets are optional (``validate``, ``plan --no-secrets``: CI without
access to them), a sensitive variable nobody gave a value gets a typed
``placeholder`` instead of an error: ``UNKNOWN`` (known only where it is
applied), or for an object with declared fields a map of placeholders, so
``var.db.password`` still resolves. Checks of the variable itself are
skipped for it, and schemas, patterns and lengths of the resources it
reaches are not judged, exactly as for another resource's attribute.

Declarations come from untrusted Git: checks are validated where they are
written (a ``pattern`` must compile under RE2, which matches in linear time
and has no backreferences, so ``(a+)+$`` cannot hang a render), and checking
a value never raises whatever the declaration says. Values in messages are
spelt as YAML (``spell``); a secret is ``(sensitive)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml

from driftless.errors import Problem
from driftless.model import UNKNOWN, Sensitive, contains_sensitive, reveal
from driftless.records import record
from driftless.render.spell import kind, spell
from driftless.render.suggest import did_you_mean
from driftless.render.yamlio import Loc, key_where, problem_at, where

__all__ = [
    "TYPES",
    "ValueSource",
    "VarDecl",
    "missing_secret",
    "parse_declarations",
    "placeholder",
    "resolve_variables",
]

TYPES = ("string", "integer", "number", "boolean", "list", "map", "object")
_DECL_KEYS = frozenset({"type", "default", "description", "minimum", "maximum", "pattern",
                        "enum", "sensitive", "items", "values", "fields"})
_MISSING: Any = object()


@record
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


@record
class ValueSource:
    """Values from one place: a label for messages, and where each was written."""

    label: str
    values: Mapping[str, Any]
    locs: Mapping[str, Loc]
    from_text: bool = False  # --var and environment variables arrive as strings
    placeholder: bool = False  # stand-ins for secrets not given: never checked or wrapped


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
    unknown = sorted(set(body) - _DECL_KEYS, key=str)
    for key in unknown:
        problems.append(problem_at(f"variable '{name}': unknown key {spell(key)}",
                                   key_where(body, key), hint=did_you_mean(str(key), _DECL_KEYS)))
    vtype = body.get("type", "string")
    if not isinstance(vtype, str) or vtype not in TYPES:
        hint = did_you_mean(str(vtype), TYPES) or f"types: {', '.join(TYPES)}"
        problems.append(problem_at(f"variable '{name}': unknown type {spell(vtype)}",
                                   where(body, "type"), hint=hint))
        return None
    checks = {k: body[k] for k in ("minimum", "maximum", "pattern", "enum", "items", "values",
                                   "fields") if k in body}
    _validate_checks(f"variable '{name}'", body, problems)
    decl = VarDecl(name, vtype, body.get("default", _MISSING), str(body.get("description", "")),
                   checks, bool(body.get("sensitive", False)), loc)
    if decl.has_default and decl.default is not None:
        for msg in check_value(decl, decl.default):
            problems.append(problem_at(f"variable '{name}' default: {msg}", where(body, "default")))
    return decl


def _infer_type(value: Any) -> str:
    """The declared type a bare default implies (``null`` and anything else: string)."""
    named = kind(value)
    return named if named in ("boolean", "integer", "number", "list", "map") else "string"


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2 (linear time), or the reason it cannot be.

    Returns a compiled pattern, or a string saying what is wrong with it. RE2
    is imported here: ~2 ms of every render otherwise, and few stacks use it.
    """
    import re2

    options = re2.Options()
    options.log_errors = False  # an invalid pattern is the user's problem, not a log line
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        return text.replace("\n", " ")[:200]


def _validate_checks(what: str, spec: Mapping[str, Any], problems: list[Problem]) -> None:
    """Problems with the checks a declaration (or an object field) writes, where written."""
    for key in ("minimum", "maximum"):
        if key in spec and not _is_number(spec[key]):
            problems.append(problem_at(f"{what}: {key} must be a number, got {spell(spec[key])}",
                                       where(spec, key)))
    if "pattern" in spec:
        problem = _pattern_problem(spec["pattern"])
        if problem:
            problems.append(problem_at(f"{what}: {problem}", where(spec, "pattern"),
                                       hint="patterns use RE2 syntax: no backreferences or "
                                       "lookaround"))
    if "enum" in spec and not isinstance(spec["enum"], list):
        problems.append(problem_at(f"{what}: enum must be a list of the allowed values",
                                   where(spec, "enum")))
    for key in ("items", "values"):
        if key in spec and spec[key] not in TYPES:
            problems.append(problem_at(f"{what}: {key} must be a type name, got "
                                       f"{spell(spec[key])}", where(spec, key),
                                       hint=f"types: {', '.join(TYPES)}"))
    fields = spec.get("fields")
    if fields is not None and not isinstance(fields, Mapping):
        problems.append(problem_at(f"{what}: fields must be a map of name: type",
                                   where(spec, "fields")))
    elif fields is not None:
        for name, sub in fields.items():
            if isinstance(sub, Mapping):
                _validate_checks(f"{what} field {spell(name)}", sub, problems)


def _pattern_problem(pattern: Any) -> str | None:
    if not isinstance(pattern, str):
        return f"pattern must be a string, got {spell(pattern)}"
    compiled = compile_pattern(pattern)
    if isinstance(compiled, str):
        return f"invalid pattern {spell(pattern)}: {compiled}"
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) or math.isfinite(value)


def check_value(decl: VarDecl, value: Any) -> list[str]:
    """Type and check problems for a value (never quoting a secret)."""
    return _check(decl.type, decl.checks, value, decl.sensitive)


def _check(vtype: str, checks: Mapping[str, Any], value: Any, secret: bool) -> list[str]:
    """Problems of ``value``; checks that are themselves invalid (reported where they are
    declared) are skipped, so a bad declaration cannot raise here."""
    shown = spell(Sensitive(value)) if secret else spell(value)
    if not _is_type(vtype, value):
        return [f"expected {_article(vtype)} but got {shown} ({kind(value)})"]
    out: list[str] = []
    if vtype in ("integer", "number"):
        out += _bounds(checks, value, shown)
    pattern = checks.get("pattern")
    if isinstance(pattern, str) and vtype == "string":
        compiled = compile_pattern(pattern)
        if not isinstance(compiled, str) and compiled.fullmatch(value) is None:
            out.append(f"{shown} does not match the pattern {spell(pattern)}")
    enum = checks.get("enum")
    if isinstance(enum, list) and value not in enum:
        out.append(f"{shown} is not one of: {', '.join(spell(e) for e in enum[:20])}")
    return out + _check_children(vtype, checks, value, secret)


def _bounds(checks: Mapping[str, Any], value: Any, shown: str) -> list[str]:
    low, high = checks.get("minimum"), checks.get("maximum")
    out = []
    if _is_number(low) and value < low:
        out.append(f"{shown} is below the minimum {spell(low)}")
    if _is_number(high) and value > high:
        out.append(f"{shown} is above the maximum {spell(high)}")
    return out


def _check_children(vtype: str, checks: Mapping[str, Any], value: Any, secret: bool) -> list[str]:
    out: list[str] = []
    if vtype == "list" and "items" in checks:
        for i, item in enumerate(value):
            out += [f"item {i}: {m}" for m in _check(str(checks["items"]), {}, item, secret)]
    if vtype == "map" and "values" in checks:
        for key, item in value.items():
            label = "a key" if secret else f"key {spell(key)}"
            out += [f"{label}: {m}" for m in _check(str(checks["values"]), {}, item, secret)]
    if vtype == "object" and isinstance(checks.get("fields"), Mapping):
        out += _check_fields(checks["fields"], value, secret)
    return out


def _check_fields(fields: Mapping[str, Any], value: Mapping[str, Any], secret: bool) -> list[str]:
    out = [_unknown_field(k, fields, secret) for k in value if k not in fields]
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


def _unknown_field(key: Any, fields: Mapping[str, Any], secret: bool) -> str:
    """A key of an object that declares no such field (hidden inside a secret)."""
    if secret:
        return "unknown field (sensitive)"
    hint = did_you_mean(str(key), fields)
    return f"unknown field {spell(key)}" + (f" ({hint})" if hint else "")


def _is_type(vtype: str, value: Any) -> bool:
    if vtype == "string":
        return isinstance(value, str)
    if vtype == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if vtype == "number":
        return _is_number(value)  # not math.isfinite(int): a long int overflows a float
    if vtype == "boolean":
        return isinstance(value, bool)
    if vtype == "list":
        return isinstance(value, list)
    return isinstance(value, Mapping)


def _article(vtype: str) -> str:
    return f"an {vtype}" if vtype[0] in "aeiou" else f"a {vtype}"


def from_text(decl: VarDecl, text: str) -> Any:
    """A value given as text (``--var``, environment) in the declared type."""
    if decl.type == "string":
        return text
    if decl.type == "boolean" and text.lower() in ("true", "false", "yes", "no", "1", "0"):
        return text.lower() in ("true", "yes", "1")
    try:
        value = yaml.load(text, Loader=yaml.CSafeLoader)
    except (yaml.YAMLError, ValueError, RecursionError):  # ValueError: int of 5000 digits
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
    """The checked value; a value decrypted from SOPS arrives ``Sensitive`` (whole or
    in parts), is checked as itself without ever being quoted, and stays wrapped."""
    if src is not None and src.placeholder:
        return value  # no secret inside; UNKNOWN must stay bare to be seen as unknown
    secret = decl.sensitive or contains_sensitive(value)
    plain = reveal(value)
    if src is not None and src.from_text and isinstance(plain, str):
        plain = from_text(decl, plain)
        value = Sensitive(plain) if isinstance(value, Sensitive) else plain
    if src is not None and not (plain is None and decl.has_default and decl.default is None):
        for msg in _check(decl.type, decl.checks, plain, secret):
            loc = src.locs.get(decl.name)
            if loc is None:
                problems.append(Problem(f"variable '{decl.name}': {msg}", src.label))
            else:
                problems.append(problem_at(f"variable '{decl.name}' from {src.label}: {msg}", loc))
    return Sensitive(plain) if decl.sensitive else value


def placeholder(decl: VarDecl) -> Any:
    """The stand-in for a sensitive variable without a value, shaped by its type.

    ``UNKNOWN`` for scalars, lists and maps: anything built from it is
    unknown too, so no schema, ``pattern`` or length check can fail on a
    value that does not exist. An object with declared fields becomes a map
    of placeholders, so references into it (``var.db.password``) resolve.
    """
    return _shaped(decl.type, decl.checks)


def _shaped(vtype: str, checks: Mapping[str, Any]) -> Any:
    fields = checks.get("fields")
    if vtype != "object" or not isinstance(fields, Mapping):
        return UNKNOWN
    out = {}
    for name, spec in fields.items():
        spec = spec if isinstance(spec, Mapping) else {"type": str(spec)}
        out[name] = _shaped(str(spec.get("type", "string")), spec)
    return out


def missing_secret(decl: VarDecl, env: str | None) -> Problem:
    """The warning for a sensitive variable that has no value here, where it is declared."""
    where_to = f" for environment {env}" if env else ""
    return problem_at(
        f"sensitive variable '{decl.name}' has no value{where_to} (give it with --var, a "
        f"values file, DRIFTLESS_VAR_{decl.name} or a SOPS file)", decl.loc,
        hint="checked with a placeholder; the environment that applies must give it")


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

