"""Overlays: patch a stack's base per environment or variant.

``stacks/<stack>/overlays/<env>.yaml`` may ``extend`` other overlays of the
same stack (base → variant → environment), set variable values, remove and
add resources, prefix or suffix the names of the resources it inherits, and
patch resources with merge patches (RFC 7386) or JSON-6902 operations (add,
remove, replace, test). Every layer is applied to copies: parsed files are
cached and shared. I/O: reads overlay files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from driftless.errors import Problem, RenderError
from driftless.records import record
from driftless.render.inputs import is_file
from driftless.render.project import Project, check_name
from driftless.render.shape import OVERLAY_SHAPE, sanitize
from driftless.render.suggest import did_you_mean
from driftless.render.yamlio import Loc, LocDict, LocList, key_where, problem_at, where

__all__ = ["Layered", "apply_overlays"]

_KEYS = ("extends", "variables", "name_prefix", "name_suffix", "resources", "remove", "patches",
         "outputs", "settings")


@record(frozen=False)
class Layered:
    """A stack after its overlays: resources by logical name, with final names."""

    resources: dict[str, Any]
    names: dict[str, str]
    outputs: dict[str, Any]
    settings: dict[str, Any]
    values: list[tuple[str, LocDict]] = field(default_factory=list)
    added_by: dict[str, Loc | None] = field(default_factory=dict)


def apply_overlays(project: Project, stack: str, doc: Mapping[str, Any], env: str | None,
                   problems: list[Problem]) -> Layered:
    """The base with the overlay chain for ``env`` applied (if it has one)."""
    resources = doc.get("resources") or {}
    outputs = doc.get("outputs") or {}
    layered = Layered(dict(resources) if isinstance(resources, Mapping) else {},
                      {k: k for k in resources} if isinstance(resources, Mapping) else {},
                      _located_copy(outputs) if isinstance(outputs, Mapping) else {},
                      dict(doc.get("settings") or {}))
    layered.added_by = {k: where(resources, k) for k in layered.resources}
    if env is not None:
        for layer_name in _chain(project, stack, env, [], problems):
            _apply_layer(project, stack, layer_name, layered, problems)
    return layered


def _located_copy(values: Mapping[str, Any]) -> LocDict:
    """A shallow copy that keeps where each value was written (for messages)."""
    out = LocDict(values)
    if isinstance(values, LocDict):
        out.loc, out.locs, out.key_locs = values.loc, dict(values.locs), dict(values.key_locs)
    return out


def _update_located(target: dict[str, Any], more: Mapping[str, Any]) -> None:
    """``target.update(more)``, carrying ``more``'s locations when both record them."""
    target.update(more)
    if isinstance(target, LocDict) and isinstance(more, LocDict):
        target.locs.update(more.locs)
        target.key_locs.update(more.key_locs)


def _overlay_doc(project: Project, stack: str, name: str, at: Loc | None = None) -> Any:
    """The parsed overlay ``name`` of ``stack`` (None when there is none); a name that
    is not a plain name, or a file leading outside the project, is a ``RenderError``."""
    check_name(name, "overlay", at)
    path = project.stacks[stack].path / "overlays" / f"{name}.yaml"
    if not is_file(path):
        return None
    return project.load(path, at=at) or LocDict()


def _chain(project: Project, stack: str, name: str, seen: list[str],
           problems: list[Problem]) -> list[str]:
    if name in seen:
        problems.append(Problem(f"overlay cycle in stack '{stack}': "
                                f"{' -> '.join([*seen, name])}"))
        return []
    doc = _overlay_doc(project, stack, name)
    if doc is None:
        return []
    parents = (doc.get("extends") or []) if isinstance(doc, Mapping) else []
    out: list[str] = []
    for parent in [parents] if isinstance(parents, str) else list(parents):
        try:
            parent_doc = _overlay_doc(project, stack, str(parent), where(doc, "extends"))
        except RenderError as exc:
            problems.extend(exc.problems)
            continue
        if parent_doc is None:
            problems.append(problem_at(f"overlay '{parent}' does not exist in stack '{stack}'",
                                       where(doc, "extends"),
                                       hint=f"create stacks/{stack}/overlays/{parent}.yaml"))
            continue
        out += [n for n in _chain(project, stack, str(parent), [*seen, name], problems)
                if n not in out]
    return [*out, name]


def _apply_layer(project: Project, stack: str, name: str, layered: Layered,
                 problems: list[Problem]) -> None:
    doc = sanitize(_overlay_doc(project, stack, name), OVERLAY_SHAPE, problems)
    if not isinstance(doc, Mapping):
        path = project.stacks[stack].path / "overlays" / f"{name}.yaml"
        problems.append(Problem(f"overlay '{name}' must be a map", project.rel(path), 1, 1,
                                hint="e.g. extends: [base] / remove: [x] / resources: {...}"))
        return
    for key in doc:
        if key not in _KEYS:
            hint = did_you_mean(key, _KEYS) or f"keys: {', '.join(_KEYS)}"
            problems.append(problem_at(f"unknown overlay key '{key}'", key_where(doc, key),
                                       hint=hint))
    if isinstance(doc.get("variables"), LocDict):
        layered.values.append((project.rel(project.stacks[stack].path / "overlays" /
                                           f"{name}.yaml"), doc["variables"]))
    _remove(doc, layered, problems)
    for i, patch in enumerate(doc.get("patches") or []):
        _patch(patch, where(doc.get("patches"), i), layered, problems)
    _rename(doc, layered)
    _add(doc, layered, problems)
    _update_located(layered.outputs, doc.get("outputs") or {})
    layered.settings.update(doc.get("settings") or {})


def _missing(what: str, name: Any, loc: Loc | None, layered: Layered) -> Problem:
    return problem_at(f"overlay {what} missing resource '{name}'", loc,
                      hint=did_you_mean(str(name), layered.resources))


def _remove(doc: Mapping[str, Any], layered: Layered, problems: list[Problem]) -> None:
    names = doc.get("remove") or []
    if not isinstance(names, list):
        problems.append(problem_at("'remove' must be a list of resource names",
                                   where(doc, "remove")))
        return
    for i, name in enumerate(names):
        if not isinstance(name, str):
            problems.append(problem_at("'remove' lists resource names; this item is not one",
                                       where(names, i)))
            continue
        if name not in layered.resources:
            problems.append(_missing("removes", name, where(doc.get("remove"), i), layered))
            continue
        del layered.resources[name]
        del layered.names[name]


def _patch(patch: Any, loc: Loc | None, layered: Layered, problems: list[Problem]) -> None:
    if not isinstance(patch, Mapping) or "target" not in patch:
        problems.append(problem_at("a patch needs 'target:' and 'merge:' or 'ops:'", loc))
        return
    target = str(patch["target"])
    if target not in layered.resources:
        problems.append(_missing("patches", target, where(patch, "target"), layered))
        return
    body = layered.resources[target]
    if "merge" in patch:
        body = merge_patch(body, patch["merge"])
    try:
        for j, op in enumerate(patch.get("ops") or []):
            body = json_patch(body, op, where(patch.get("ops"), j))
    except RenderError as exc:
        problems.extend(exc.problems)
        return
    layered.resources[target] = body


def _rename(doc: Mapping[str, Any], layered: Layered) -> None:
    prefix, suffix = str(doc.get("name_prefix") or ""), str(doc.get("name_suffix") or "")
    if prefix or suffix:
        layered.names = {k: f"{prefix}{v}{suffix}" for k, v in layered.names.items()}


def _add(doc: Mapping[str, Any], layered: Layered, problems: list[Problem]) -> None:
    added = doc.get("resources") or {}
    for name, body in added.items():
        if name in layered.resources:
            problems.append(problem_at(
                f"overlay adds resource '{name}' but the base already has it", where(added, name),
                hint="use patches: to change an existing resource"))
            continue
        layered.resources[name] = body
        layered.names[name] = name
        layered.added_by[name] = where(added, name)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, ``null`` deletes, anything else replaces (copy-on-write)."""
    if not isinstance(patch, Mapping):
        return patch
    out = LocDict(target) if isinstance(target, Mapping) else LocDict()
    if isinstance(target, LocDict):
        out.loc, out.locs = target.loc, dict(target.locs)
        out.key_locs = dict(target.key_locs)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
            continue
        out[key] = merge_patch(out.get(key), value)
        loc = where(patch, key)
        if loc is not None:
            out.locs[key] = loc
    return out


def _clone(value: Any) -> Any:
    if isinstance(value, LocDict):
        out = LocDict({k: _clone(v) for k, v in value.items()})
        out.loc, out.locs = value.loc, dict(value.locs)
        out.key_locs = dict(value.key_locs)
        return out
    if isinstance(value, LocList):
        items = LocList(_clone(v) for v in value)
        items.loc, items.locs = value.loc, list(value.locs)
        return items
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return [_clone(v) for v in value] if isinstance(value, list) else value


def _pointer(path: Any, loc: Loc | None) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise RenderError([problem_at(f"'{path}' is not a JSON pointer (e.g. /properties/mode)",
                                      loc)])
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(body: Any, op: Any, loc: Loc | None) -> Any:
    """One JSON-6902 operation (add, remove, replace, test) on a copy of ``body``."""
    if not isinstance(op, Mapping) or op.get("op") not in ("add", "remove", "replace", "test"):
        raise RenderError([problem_at("an op needs 'op:' (add, remove, replace or test) and "
                                      "'path:'", loc)])
    parts = _pointer(op.get("path"), where(op, "path"))
    out = _clone(body)
    parent: Any = out
    for part in parts[:-1]:
        parent = _child(parent, part, op, loc)
    _leaf(parent, parts[-1], op, loc)
    return out


def _child(node: Any, part: str, op: Mapping[str, Any], loc: Loc | None) -> Any:
    if isinstance(node, Mapping) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdecimal() and int(part) < len(node):
        return node[int(part)]
    raise RenderError([problem_at(f"{op['op']}: path '{op['path']}' does not exist", loc)])


def _leaf(parent: Any, key: str, op: Mapping[str, Any], loc: Loc | None) -> None:
    kind = op["op"]
    exists = (key in parent) if isinstance(parent, Mapping) else (
        key.isdecimal() and int(key) < len(parent))
    if kind != "add" and not exists:
        raise RenderError([problem_at(f"{kind}: path '{op['path']}' does not exist", loc)])
    if kind == "test":
        actual = parent[key] if isinstance(parent, Mapping) else parent[int(key)]
        if actual != op.get("value"):
            raise RenderError([problem_at(f"test failed: '{op['path']}' is {actual!r}, "
                                          f"not {op.get('value')!r}", loc)])
    elif kind == "remove":
        del parent[key if isinstance(parent, Mapping) else int(key)]
    elif isinstance(parent, list):
        index = len(parent) if key == "-" else int(key)
        if kind == "add":
            parent.insert(index, op.get("value"))
        else:
            parent[index] = op.get("value")
    else:
        parent[key] = op.get("value")
