"""Semantic versions and ranges, to pick the newest tag a source may follow.

A source whose ``ref`` is a range such as ``">=1.16.0 <1.19.0"`` follows the
highest tag (``vX.Y.Z`` or ``X.Y.Z``) inside it. Supported comparators:
``=``, ``>``, ``>=``, ``<``, ``<=``, ``~1.2`` (same minor), ``^1.2``
(same major; ``^0.2`` same minor), wildcards ``1.x`` / ``1.2.*`` / ``*``;
comparators in one group are ANDed (space or comma), groups are ORed with
``||``. Pre-releases (``1.2.0-rc.1``) are skipped unless a comparator names
one. Pure functions, no I/O.

``Constraints`` reads the Masterminds constraint syntax that Flux image
policies use, with its rules: ``1.2`` and ``1.2.x`` mean ``~1.2``; ``>1`` is
``>=2``; ``^0.2.3`` stays below ``0.3.0``; ``1.2 - 1.4.5`` is a hyphen range;
``!=`` and the ``=>``/``=<``/``~>`` spellings exist; and an AND group allows
pre-releases only when one of its comparators names one. ``parse_tag``
accepts what Flux accepts as a version tag: a full ``X.Y.Z`` with an
optional ``v``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from driftless.records import record

__all__ = ["Constraints", "Version", "VersionRange", "is_range", "newest_in_range", "parse_tag",
           "parse_version"]

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


@record
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


@record
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


# -- Masterminds constraints (Flux image policies) ---------------------------

_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_TAG = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_IDENT_RE = re.compile(_IDENT)
_OPS = r"!=|>=|=>|<=|=<|~>|>|<|=|~|\^|"
_CV = (r"v?([0-9xX*|]+)(\.[0-9xX*|]+)?(\.[0-9xX*|]+)?"
       r"(-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_ONE = re.compile(rf"^\s*({_OPS})\s*({_CV})\s*$")
_FIND = re.compile(rf"({_OPS})\s*({_CV})")
_VALID = re.compile(rf"^(\s*(?:{_OPS})\s*(?:{_CV})\s*)((?:\s+|,\s*)(?:{_OPS})\s*(?:{_CV})\s*)*$")
_HYPHEN = re.compile(rf"\s*({_CV})\s+-\s+({_CV})\s*")
_WILD = ("x", "X", "*")


def parse_tag(text: str) -> Version | None:
    """A version tag as Flux reads one (``1.2.3``, ``v1.2.3-rc.1+build``), or None."""
    m = _TAG.match(text)
    if m is None:
        return None
    return Version(int(m[1]), int(m[2]), int(m[3]), tuple(m[4].split(".")) if m[4] else ())


@record
class _Comparator:
    op: str
    con: Version
    dirty: bool = False  # some part was a wildcard or missing
    minor_dirty: bool = False
    patch_dirty: bool = False

    def check(self, v: Version) -> bool:
        return _CHECKS[self.op](v, self)


def _number(part: str | None, text: str) -> int | None:
    """A version component; None for a wildcard or a missing one."""
    if part is None:
        return None
    part = part.lstrip(".")
    if part in _WILD:
        return None
    if not part.isdigit():
        raise ValueError(f"improper constraint: {text!r}")
    return int(part)


def _parse_comparator(text: str) -> _Comparator:
    m = _ONE.match(text)
    if m is None:
        raise ValueError(f"improper constraint: {text!r}")
    op = {"=>": ">=", "=<": "<=", "~>": "~", "": "="}.get(m[1], m[1])
    major, minor, patch = (_number(m[i], text) for i in (3, 4, 5))
    pre = tuple(m[7].split(".")) if m[7] else ()
    if any(not _IDENT_RE.fullmatch(p) for p in pre):
        raise ValueError(f"improper constraint: {text!r} (a numeric pre-release part has a "
                         "leading zero)")
    if major is None:
        return _Comparator(op, Version(0, 0, 0, pre), dirty=True)
    if minor is None:
        return _Comparator(op, Version(major, 0, 0, pre), dirty=True, minor_dirty=True)
    if patch is None:
        return _Comparator(op, Version(major, minor, 0, pre), dirty=True, patch_dirty=True)
    return _Comparator(op, Version(major, minor, patch, pre))


def _eq(v: Version, c: _Comparator) -> bool:
    return _tilde(v, c) if c.dirty else v.key() == c.con.key()


def _ne(v: Version, c: _Comparator) -> bool:
    if not c.dirty:
        return v.key() != c.con.key()
    if v.major != c.con.major:
        return True
    if c.minor_dirty:
        return False
    if v.minor != c.con.minor:
        return True
    if c.patch_dirty:
        return v.pre != c.con.pre
    return v.key() != c.con.key()


def _gt(v: Version, c: _Comparator) -> bool:
    if not c.dirty:
        return c.con < v
    if v.major != c.con.major:
        return v.major > c.con.major
    if c.minor_dirty:
        return False  # >1 needs 2.0.0 or more
    if c.patch_dirty:
        return v.minor > c.con.minor
    return c.con < v


def _le(v: Version, c: _Comparator) -> bool:
    if not c.dirty:
        return v <= c.con
    if v.major > c.con.major:
        return False
    return not (v.major == c.con.major and v.minor > c.con.minor and not c.minor_dirty)


def _tilde(v: Version, c: _Comparator) -> bool:
    if v < c.con:
        return False
    con = c.con
    if (con.major, con.minor, con.patch) == (0, 0, 0) and not c.minor_dirty and \
            not c.patch_dirty:
        return True
    return v.major == con.major and (c.minor_dirty or v.minor == con.minor)


def _caret(v: Version, c: _Comparator) -> bool:
    con = c.con
    if v < con:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    return v.minor == 0 and v.patch == con.patch


_CHECKS: dict[str, Callable[[Version, _Comparator], bool]] = {
    "=": _eq, "!=": _ne, ">": _gt, "<": lambda v, c: v < c.con,
    ">=": lambda v, c: c.con <= v, "<=": _le, "~": _tilde, "^": _caret,
}


@record
class Constraints:
    """An OR of AND groups of Masterminds comparators (see the module docstring)."""

    text: str
    groups: tuple[tuple[_Comparator, ...], ...]
    include_pre: tuple[bool, ...]

    @classmethod
    def parse(cls, text: str) -> Constraints:
        """Parse a constraint; ``ValueError`` naming the part that is not one."""
        rewritten = _HYPHEN.sub(lambda m: f" >= {m[1]}, <= {m[7]} ", text)
        groups, pre = [], []
        for alternative in rewritten.split("||"):
            if not _VALID.match(alternative):
                raise ValueError(f"improper constraint: {alternative.strip()!r}")
            found = [_parse_comparator(f"{m[1]}{m[2]}") for m in _FIND.finditer(alternative)]
            groups.append(tuple(found))
            pre.append(any(c.con.pre for c in found))
        return cls(text, tuple(groups), tuple(pre))

    def check(self, version: Version) -> bool:
        """Whether ``version`` satisfies any AND group."""
        for group, with_pre in zip(self.groups, self.include_pre, strict=True):
            if version.pre and not with_pre:
                continue
            if all(c.check(version) for c in group):
                return True
        return False

    def latest(self, tags: Iterable[str]) -> str | None:
        """The tag with the highest version that satisfies the constraint (first wins a tie)."""
        best: tuple[Version, str] | None = None
        for tag in tags:
            version = parse_tag(tag)
            if version is not None and self.check(version) and (best is None or best[0] < version):
                best = (version, tag)
        return best[1] if best else None
