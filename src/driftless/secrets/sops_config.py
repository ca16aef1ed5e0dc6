"""``.sops.yaml`` creation rules: which age recipients and rule a new file gets.

Reads the config file (found by walking up from the file being encrypted);
no other I/O. The first rule whose ``path_regex`` matches the file's path
relative to the config's directory wins; a rule without ``path_regex``
matches everything. Patterns are RE2, like Go's ``regexp``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from driftless.records import record
from driftless.secrets.age_keys import parse_recipients
from driftless.secrets.sops_cipher import SecretsError
from driftless.secrets.sops_rules import CryptRules, compile_pattern

__all__ = ["CreationRule", "creation_rule_for", "find_config"]

CONFIG_NAME = ".sops.yaml"
_MAX_DEPTH = 100  # sops stops looking after this many parent directories


@record
class CreationRule:
    """Recipients and encryption rule chosen for one file."""

    recipients: tuple[str, ...]
    rules: CryptRules
    config: Path


def find_config(start: Path) -> Path | None:
    """The nearest ``.sops.yaml`` in the file's directory or above it."""
    here = start.resolve().parent
    for _ in range(_MAX_DEPTH):
        candidate = here / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if here.parent == here:
            return None
        here = here.parent
    return None


def creation_rule_for(path: Path) -> CreationRule:
    """The creation rule for ``path``; raise a clear error when there is none."""
    config = find_config(path)
    if config is None:
        raise SecretsError(f"no {CONFIG_NAME} found above {path} and no --age recipient given",
                           hint="pass --age age1... or add a .sops.yaml with creation_rules")
    rules = _load_rules(config)
    relative = _relative(path, config.parent)
    for index, rule in enumerate(rules):
        pattern = str(rule.get("path_regex") or "")
        if not pattern or _search(pattern, relative, config, index):
            return _rule(rule, config, index)
    raise SecretsError(f"{config}: no creation rule matches {relative}")


def _load_rules(config: Path) -> list[dict[str, Any]]:
    """The ``creation_rules`` list, each a mapping."""
    try:
        doc = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SecretsError(f"cannot read {config}: {type(exc).__name__}") from None
    rules = doc.get("creation_rules") if isinstance(doc, dict) else None
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise SecretsError(f"{config}: creation_rules must be a list of mappings")
    return rules


def _relative(path: Path, base: Path) -> str:
    """The path sops matches against: relative to the config when inside it."""
    full = path.resolve()
    try:
        return full.relative_to(base.resolve()).as_posix()
    except ValueError:
        return full.as_posix()


def _search(pattern: str, text: str, config: Path, index: int) -> bool:
    """Unanchored search, as sops does with ``regexp.MatchString``."""
    compiled = compile_pattern(f"{config}: creation_rules[{index}].path_regex", pattern)
    return compiled.search(text) is not None


def _rule(rule: dict[str, Any], config: Path, index: int) -> CreationRule:
    """Recipients from ``age`` (list or comma string) or a single ``key_groups`` entry."""
    age: Any = rule.get("age")
    groups = rule.get("key_groups")
    if age is None and isinstance(groups, list) and len(groups) == 1:
        age = (groups[0] or {}).get("age")
    values = [age] if isinstance(age, str) else list(age or [])
    recipients = [r for v in values for r in parse_recipients(str(v))]
    if not recipients:
        other = [k for k in ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri")
                 if rule.get(k)]
        what = f" (it uses {', '.join(other)}, which driftless does not support)" if other else ""
        raise SecretsError(f"{config}: creation_rules[{index}] has no age recipients{what}")
    return CreationRule(tuple(recipients), CryptRules.from_mapping(rule), config)
