"""JSON Schema of the language for editors (yaml-language-server). Pure.

One document: ``$defs`` hold driftless.yaml, stack.yaml, overlays,
environment files and each installed kind's properties; the top level
accepts any of the four file shapes. Point an editor at it with
``# yaml-language-server: $schema=driftless.schema.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from driftless.providers.base import KindSpec
from driftless.render.variables import TYPES

__all__ = ["language_schema"]

_EXPR = {"type": "string", "pattern": r"^\$\{.*\}$", "description": "a ${...} expression"}
_ANY: dict[str, Any] = {}


def _variable() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "type": {"enum": list(TYPES)},
            "default": _ANY,
            "description": {"type": "string"},
            "minimum": {"type": "number"},
            "maximum": {"type": "number"},
            "pattern": {"type": "string"},
            "enum": {"type": "array"},
            "sensitive": {"type": "boolean"},
            "items": {"enum": list(TYPES)},
            "values": {"enum": list(TYPES)},
            "fields": {"type": "object"},
        },
    }


def _resource(types: list[str]) -> dict[str, Any]:
    names = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "required": ["type"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*:[A-Za-z][A-Za-z0-9_.]*$",
                     "examples": types},
            "description": {"type": "string"},
            "properties": {"type": "object"},
            "depends_on": names,
            "triggered_by": names,
            "protect": {"anyOf": [{"type": "boolean"}, _EXPR]},
            "count": {"anyOf": [{"type": "integer", "minimum": 0}, _EXPR]},
            "for_each": {"anyOf": [{"type": "object"}, {"type": "array"}, _EXPR]},
            "target": {"type": "string", "description": "local, ssh://user@host:port or an "
                       "inventory host"},
        },
    }


def _kind_rules(kinds: Mapping[str, KindSpec]) -> list[dict[str, Any]]:
    return [
        {"if": {"properties": {"type": {"const": name}}},
         "then": {"properties": {"properties": {"$ref": f"#/$defs/kind:{name}"}}}}
        for name in sorted(kinds)
    ]


def _stack(kinds: Mapping[str, KindSpec]) -> dict[str, Any]:
    resource = _resource(sorted(kinds))
    resource["allOf"] = _kind_rules(kinds)
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string"},
            "variables": {"type": "object", "additionalProperties": _variable()},
            "resources": {"type": "object", "additionalProperties": resource},
            "outputs": {"type": "object"},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "settings": {"type": "object"},
            "target": {"anyOf": [{"type": "string"}, {"type": "array"}],
                       "description": "local, ssh://user@host:port, an inventory host or "
                                      "group, or a list: renders once per host"},
        },
    }


def _project() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["project", "stacks"],
        "additionalProperties": False,
        "properties": {
            "project": {"type": "string"},
            "state": {"type": "string", "default": "sqlite:///.driftless/state.db"},
            "environments": {"type": "array", "items": {"type": "string"}},
            "providers": {"type": "object", "additionalProperties": {"type": "object"}},
            "stacks": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                                 {"type": "object"}]},
            "settings": {"type": "object"},
            "inventory": {"type": "object", "properties": {
                "hosts": {"type": "object", "additionalProperties": {
                    "anyOf": [{"type": "string"}, {"type": "object", "properties": {
                        "target": {"type": "string"}, "vars": {"type": "object"}}}]}},
                "groups": {"type": "object", "additionalProperties": {
                    "type": "array", "items": {"type": "string"}}}}},
        },
    }


def _overlay() -> dict[str, Any]:
    patch = {"type": "object", "required": ["target"], "properties": {
        "target": {"type": "string"}, "merge": {"type": "object"},
        "ops": {"type": "array", "items": {"type": "object", "required": ["op", "path"],
                "properties": {"op": {"enum": ["add", "remove", "replace", "test"]},
                               "path": {"type": "string"}, "value": _ANY}}}}}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "extends": {"anyOf": [{"type": "string"}, {"type": "array"}]},
            "variables": {"type": "object"},
            "name_prefix": {"type": "string"},
            "name_suffix": {"type": "string"},
            "resources": {"type": "object"},
            "remove": {"type": "array", "items": {"type": "string"}},
            "patches": {"type": "array", "items": patch},
            "outputs": {"type": "object"},
            "settings": {"type": "object"},
        },
    }


def _kind_defs(name: str, spec: KindSpec) -> dict[str, Any]:
    """The kind's pydantic schema, its nested ``$defs`` hoisted under a unique prefix."""
    prefix = f"kind:{name}"
    text = json.dumps(spec.model().model_json_schema())
    body = json.loads(text.replace('"#/$defs/', f'"#/$defs/{prefix}:'))
    nested = body.pop("$defs", {})
    body["description"] = spec.description
    return {prefix: body, **{f"{prefix}:{k}": v for k, v in nested.items()}}


def language_schema(kinds: Mapping[str, KindSpec]) -> dict[str, Any]:
    """The schema; ``kinds`` maps ``provider:kind`` to its spec."""
    defs: dict[str, Any] = {
        "project": _project(),
        "stack": _stack(kinds),
        "overlay": _overlay(),
        "environment": {"type": "object", "additionalProperties": False, "properties": {
            "variables": {"type": "object"}, "providers": {"type": "object"},
            "stacks": {"type": "object"}}},
    }
    for name, spec in sorted(kinds.items()):
        defs.update(_kind_defs(name, spec))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "driftless project files",
        "$defs": defs,
        "anyOf": [{"$ref": f"#/$defs/{k}"} for k in ("project", "stack", "overlay",
                                                     "environment")],
    }
