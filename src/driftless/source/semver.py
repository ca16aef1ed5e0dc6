"""Semantic versions and ranges, to pick the newest tag a source may follow.

A source whose ``ref`` is a range such as ``">=1.16.0 <1.19.0"`` follows the
highest tag (``vX.Y.Z`` or ``X.Y.Z``) inside it. Supported comparators:
``=``, ``>``, ``>=``, ``<``, ``<=``, ``~1.2`` (same minor), ``^1.2``
(same major; ``^0.2`` same minor), wildcards ``1.x`` / ``1.2.*`` / ``*``;
comparators in one group are ANDed (space or comma), groups are ORed with
``||``. Pre-releases (``1.2.0-rc.1``) are skipped unless a comparator names
one. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["Version", "VersionRange", "is_range", "newest_in_range", "parse_version"]

_VERSION = re.compile(
    r"^[vV]?(?P<maj>0|[1-9]\d*)\.(?P<min>0|[1-9]\d*)\.(?P<pat>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)
_PARTIAL = re.compile(
    r"^[vV]?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z.-]+))?$"
)
_WILDCARD = re.compile(r"[vV]?\d+(\.(\d+|[xX]))?\.[xX]")
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|~|\^)?\s*(.+)$")
_RANGE_CHARS = set("<>=~^*| ,")


@dataclass(frozen=True)
class Version:
    """A parsed ``MAJOR.MINOR.PATCH[-PRE]``; compares by semver precedence."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # A release sorts after its pre-releases; numeric identifiers before text.
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __str__(self) -> str:
        suffix = "-" + ".".join(self.pre) if self.pre else ""
        return f"{self.major}.{self.minor}.{self.patch}{suffix}"


def parse_version(text: str) -> Version | None:
    """``v1.2.3`` / ``1.2.3-rc.1`` → Version; anything else → None."""
    m = _VERSION.match(text.strip())
    if m is None:
        return None
    pre = tuple(m["pre"].split(".")) if m["pre"] else ()
    return Version(int(m["maj"]), int(m["min"]), int(m["pat"]), pre)


def is_range(ref: str) -> bool:
    """True when a source ref is a version range rather than a branch, tag or commit."""
    return bool(_RANGE_CHARS & set(ref)) or _WILDCARD.fullmatch(ref) is not None


Predicate = Callable[[Version], bool]


def _partial(text: str) -> tuple[list[int], tuple[str, ...]]:
    """``1.2`` → ([1, 2], ()); wildcards end the list."""
    m = _PARTIAL.match(text)
    if m is None:
        raise ValueError(f"'{text}' is not a version")
    parts: list[int] = []
    for group in m.groups()[:3]:
        if group is None or group in "xX*":
            break
        parts.append(int(group))
    return parts, tuple(m.group(4).split(".")) if m.group(4) else ()


def _floor(parts: list[int], pre: tuple[str, ...]) -> Version:
    padded = [*parts, 0, 0, 0][:3]
    return Version(padded[0], padded[1], padded[2], pre)


def _bump(parts: list[int], index: int) -> Version:
    """The first version above ``parts`` at position ``index`` (0 major, 1 minor)."""
    head = [*parts[:index], parts[index] + 1]
    major, minor, patch = [*head, 0, 0, 0][:3]
    return Version(major, minor, patch, pre=("0",))


def _comparator(op: str, operand: str) -> Predicate:
    parts, pre = _partial(operand)
    if not parts:
        return lambda v: True
    low = _floor(parts, pre)
    if op in ("", "=") and len(parts) < 3:
        op = "~"  # a partial version means "any patch of it": 1.2 is 1.2.x
    if op == "~":
        high = _bump(parts, 1 if len(parts) > 1 else 0)
        return lambda v: low <= v < high
    if op == "^":
        first_nonzero = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
        high = _bump(parts, min(first_nonzero, len(parts) - 1))
        return lambda v: low <= v < high
    compare: dict[str, Predicate] = {
        "": lambda v: v == low,
        "=": lambda v: v == low,
        ">": lambda v: low < v,
        ">=": lambda v: low <= v,
        "<": lambda v: v < low,
        "<=": lambda v: v <= low,
    }
    return compare[op]


@dataclass(frozen=True)
class VersionRange:
    """An OR of AND-groups of comparators, parsed from text like ``>=1.2 <2``."""

    text: str
    groups: tuple[tuple[Predicate, ...], ...]
    allows_prerelease: bool

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        """Parse a range; ``ValueError`` with the offending part when it is malformed."""
        groups = []
        for alternative in text.split("||"):
            # Join "op version" pairs written with a space (">= 1.2") before splitting.
            squeezed = re.sub(r"(>=|<=|>|<|=|~|\^)\s+", r"\1", alternative.replace(",", " "))
            tokens = squeezed.split()
            if not tokens:
                raise ValueError(f"empty alternative in version range '{text}'")
            groups.append(tuple(_comparator(*_split_op(tok)) for tok in tokens))
        return cls(text=text, groups=tuple(groups), allows_prerelease="-" in text)

    def contains(self, version: Version) -> bool:
        if version.pre and not self.allows_prerelease:
            return False
        return any(all(pred(version) for pred in group) for group in self.groups)


def _split_op(token: str) -> tuple[str, str]:
    m = _COMPARATOR.match(token)
    if m is None:  # pragma: no cover - the pattern matches any non-empty token
        raise ValueError(f"'{token}' is not a version comparator")
    return m.group(1) or "", m.group(2)


def newest_in_range(tags: Iterable[str], range_text: str) -> str | None:
    """The tag with the highest version inside ``range_text``, or None if none is."""
    wanted = VersionRange.parse(range_text)
    best: tuple[Version, str] | None = None
    for tag in tags:
        version = parse_version(tag)
        if version is None or not wanted.contains(version):
            continue
        if best is None or best[0] < version:
            best = (version, tag)
    return best[1] if best else None
