"""Image policies: which of a repository's tags is the one to run.

As Flux's ImagePolicy: an optional filter (an RE2 pattern, and a template
such as ``$ts`` that extracts the part to order by), then one of

- ``semver``: the highest version satisfying a Masterminds range;
- ``numerical``: the highest (``order: asc``) or lowest number;
- ``alphabetical``: the last (``asc``) or first string.

Pure functions over tag lists. Patterns come from the repository, so they
are RE2 (linear time) and their size is bounded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import re2

from driftless.errors import ConfigError
from driftless.records import record
from driftless.source.semver import Constraints

__all__ = ["ImagePolicy", "TagFilter", "expand", "parse_policy"]

_TEMPLATE = re.compile(r"\$(?:\{(\w+)\}|(\w+)|(\$))")
_MAX_PATTERN = 1_000


def expand(template: str, match: Any) -> str:
    """Go's ``Regexp.ExpandString``: ``$name``/``${name}``/``$1`` from ``match``; ``$$`` is $.

    Like Go, ``$name`` takes the longest run of word characters as the name, and
    an unknown name expands to the empty string.
    """

    def one(m: re.Match[str]) -> str:
        if m[3]:
            return "$"
        name = m[1] or m[2]
        try:
            value = match.group(int(name) if name.isdigit() else name)
        except (IndexError, KeyError, ValueError, re2.error):
            return ""
        return value or ""

    return _TEMPLATE.sub(one, template)


@record
class TagFilter:
    """Keep tags matching ``pattern``; order them by ``extract`` of the match."""

    pattern: str
    extract: str = ""

    def apply(self, tags: Iterable[str]) -> dict[str, str]:
        """Original tag -> the value to order by (the tag itself without a template)."""
        compiled = re2.compile(self.pattern)
        out: dict[str, str] = {}
        for tag in tags:
            m = compiled.search(tag)
            if m is not None:
                out[tag] = expand(self.extract, m) if self.extract else tag
        return out


@record
class ImagePolicy:
    """A named policy over one image repository's tags."""

    name: str
    repository: str
    kind: str  # semver | numerical | alphabetical
    rule: str = ""  # the semver range, or the order (asc / desc)
    filter: TagFilter | None = None

    def latest(self, tags: Sequence[str]) -> str | None:
        """The tag this policy selects from ``tags``, or None when none qualifies."""
        values = self.filter.apply(tags) if self.filter else {t: t for t in tags}
        if not values:
            return None
        if self.kind == "semver":
            constraint = Constraints.parse(self.rule)
            chosen = constraint.latest(values.values())
            return next((t for t, v in values.items() if v == chosen), None)
        if self.kind == "numerical":
            numbers = {t: _number(v) for t, v in values.items()}
            usable = {t: n for t, n in numbers.items() if n is not None}
            if not usable:
                return None
            pick = max if self.rule != "desc" else min
            return pick(usable, key=lambda t: usable[t])
        ordered = sorted(values, key=lambda t: values[t])
        return ordered[-1] if self.rule != "desc" else ordered[0]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_policy(name: str, doc: Any) -> ImagePolicy:
    """One entry of ``settings.images.policies``; ``ConfigError`` naming what is wrong."""
    where = f"settings.images.policies.{name}"
    if not isinstance(doc, Mapping) or not isinstance(doc.get("repository"), str):
        raise ConfigError(f"{where}: a policy names its repository",
                          hint="example: {repository: app, semver: {range: '>=1.0.0'}}")
    kinds = [k for k in ("semver", "numerical", "alphabetical") if k in doc]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of semver, numerical, alphabetical")
    kind = kinds[0]
    spec = doc[kind] or {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}.{kind} must be a mapping, e.g. {{range: '>=1.0.0'}}")
    if kind == "semver":
        rule = str(spec.get("range", ""))
        try:
            Constraints.parse(rule)
        except ValueError as exc:
            raise ConfigError(f"{where}.semver.range: {exc}") from None
    else:
        rule = str(spec.get("order", "asc"))
        if rule not in ("asc", "desc"):
            raise ConfigError(f"{where}.{kind}.order: asc or desc")
    return ImagePolicy(name, doc["repository"], kind, rule, _filter(where, doc.get("filterTags")))


def _filter(where: str, doc: Any) -> TagFilter | None:
    if doc is None:
        return None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("pattern"), str):
        raise ConfigError(f"{where}.filterTags: needs a pattern")
    pattern = doc["pattern"]
    if len(pattern) > _MAX_PATTERN:
        raise ConfigError(f"{where}.filterTags.pattern: longer than {_MAX_PATTERN} characters")
    try:
        re2.compile(pattern)
    except re2.error as exc:
        raise ConfigError(f"{where}.filterTags.pattern: {exc}") from None
    return TagFilter(pattern, str(doc.get("extract", "")))
