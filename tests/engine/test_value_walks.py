"""contains_sensitive / contains_unknown, reveal and mask: the fast paths answer
as the plain recursive definitions do, on any nesting of mappings, lists and tuples."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from driftless.model import UNKNOWN, ResourceId, Sensitive
from driftless.model.values import (
    Deferred,
    Unknown,
    contains_sensitive,
    contains_unknown,
    mask,
    reveal,
)

DEFERRED = Deferred("${a.b}", frozenset({ResourceId("local", "file", "a")}), lambda _l: 1)


def _reference(value: Any, pred: Callable[[Any], bool]) -> bool:
    """The recursive definition: a match here, or in a mapping's values or a
    sequence's items; a Sensitive is a leaf."""
    if pred(value):
        return True
    if isinstance(value, Mapping):
        return any(_reference(v, pred) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_reference(v, pred) for v in value)
    return False


LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                   st.text(max_size=5), st.binary(max_size=3),
                   st.sampled_from([UNKNOWN, DEFERRED, ResourceId("local", "file", "x")]))
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=3), inner, max_size=4),
        st.dictionaries(st.text(max_size=3), inner, max_size=4).map(MappingProxyType),
        inner.map(Sensitive),
    ),
    max_leaves=25,
)


@given(VALUES)
def test_walks_agree_with_the_recursive_definition(value: Any) -> None:
    assert contains_sensitive(value) == _reference(value, lambda v: isinstance(v, Sensitive))
    assert contains_unknown(value) == _reference(
        value, lambda v: v is UNKNOWN or isinstance(v, Deferred))


def test_found_deep_and_not_inside_a_secret() -> None:
    deep: Any = UNKNOWN
    for _ in range(5000):  # deeper than the recursion limit
        deep = [{"k": deep}]
    assert contains_unknown(deep)
    assert not contains_sensitive(deep)
    assert not contains_unknown({"a": Sensitive(UNKNOWN)})
    assert contains_sensitive(({"a": ["x", Sensitive("s")]},))


def _reveal(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return _reveal(value.value)
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


def _mask(value: Any) -> Any:
    if isinstance(value, Sensitive):
        return "(sensitive)"
    if isinstance(value, Unknown | Deferred):
        return "(known after apply)"
    if isinstance(value, Mapping):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    return value


@given(VALUES)
def test_reveal_and_mask_agree_with_the_recursive_definition(value: Any) -> None:
    assert reveal(value) == _reveal(value)
    assert mask(value) == _mask(value)
