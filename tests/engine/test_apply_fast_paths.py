"""The apply path's shortcuts answer as the full walks do: ``_waits`` as
``deferred_refs`` (a dict of plain values waits on nothing), and ``secure_live``
returns the live view untouched only when there is nothing to digest."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from driftless.apply.runner import _waits
from driftless.model import LiveResource, Resource, ResourceId, Sensitive, sensitive_digest
from driftless.model.values import Deferred, deferred_refs
from driftless.providers.base import KindSpec, secure_live

RID = ResourceId("local", "file", "f")
DEFERRED = Deferred("${local:file/a.path}", frozenset({ResourceId("local", "file", "a")}),
                    lambda _l: "/a")

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                   st.just(DEFERRED))
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=3), inner, max_size=3),
                            inner.map(Sensitive)),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=4), VALUES, max_size=4))
def test_waits_agrees_with_deferred_refs(props: dict[str, Any]) -> None:
    assert _waits(Resource(RID, props)) == bool(deferred_refs(props))


def test_waits_on_nothing_without_a_resource() -> None:
    assert _waits(None) is False


def _spec(sensitive: frozenset[str] = frozenset()) -> KindSpec:
    return KindSpec("thing", "tests.never:Imported", "a kind whose schema is never loaded",
                    sensitive_attributes=sensitive)


def test_secure_live_keeps_the_view_when_nothing_is_secret() -> None:
    live = LiveResource(RID, {"path": "/srv/a", "owner": "app"}, {"digest": "x"})
    res = Resource(RID, {"path": "/srv/a", "content": "hello", "make_parents": True})
    assert secure_live(_spec(), res, live) is live
    assert secure_live(None, None, live) is live


def test_secure_live_still_digests_secrets_and_sensitive_attributes() -> None:
    live = LiveResource(RID, {"path": "/srv/a", "note": "token s3cr3t-value", "pw": "pw"}, {})
    res = Resource(RID, {"path": "/srv/a", "content": Sensitive("s3cr3t-value")})
    secured = secure_live(_spec(frozenset({"pw"})), res, live)
    assert secured is not None
    assert secured.attributes["path"] == "/srv/a"
    assert secured.attributes["note"] == sensitive_digest("token s3cr3t-value")
    assert secured.attributes["pw"] == sensitive_digest("pw")
    plain = Resource(RID, {"path": "/srv/a"})
    only_sealed = secure_live(_spec(frozenset({"pw"})), plain, live)
    assert only_sealed is not None and only_sealed.attributes["pw"] == sensitive_digest("pw")
