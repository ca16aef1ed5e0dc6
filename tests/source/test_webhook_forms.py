"""Exactly the documented webhook forms are accepted (docs/operations/sources.md).

Each case is one request a sender might make; the undocumented forms the
endpoint used to accept (bare hex, a missing event header taken as a push,
unlisted delivery-id headers) are refused or ignored here on purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from driftless.source import InvalidWebhook, ReplayGuard, parse_push, verify
from driftless.source.webhook import body_digest

SECRET = b"hook-secret"
BODY = json.dumps({"ref": "refs/heads/main", "after": "a" * 40,
                   "repository": {"clone_url": "https://git.example.com/acme/app.git"}}).encode()


def _hex(body: bytes = BODY, secret: bytes = SECRET) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("provider", "headers", "ok"),
    [
        pytest.param("github", {"X-Hub-Signature-256": "sha256=" + _hex()}, True, id="github"),
        pytest.param("github", {"X-Hub-Signature-256": _hex()}, False, id="github-bare-hex"),
        pytest.param("github", {"X-Hub-Signature": "sha1=" + _hex()}, False, id="github-sha1"),
        pytest.param("github", {"X-Signature-256": "sha256=" + _hex()}, False,
                     id="github-generic-header"),
        pytest.param("generic", {"X-Signature-256": "sha256=" + _hex()}, True, id="generic"),
        pytest.param("generic", {"X-Signature-256": "sha256=" + _hex().upper()}, True,
                     id="generic-upper-hex"),
        pytest.param("generic", {"X-Signature-256": _hex()}, False, id="generic-bare-hex"),
        pytest.param("generic", {"X-Signature-256": " sha256=" + _hex()}, False,
                     id="generic-leading-space"),
        pytest.param("generic", {"X-Hub-Signature-256": "sha256=" + _hex()}, False,
                     id="generic-github-header"),
        pytest.param("gitlab", {"X-Gitlab-Token": SECRET.decode()}, True, id="gitlab"),
        pytest.param("gitlab", {"X-Gitlab-Token": SECRET.decode() + " "}, False,
                     id="gitlab-padded"),
        pytest.param("gitlab", {"X-Hub-Signature-256": "sha256=" + _hex()}, False,
                     id="gitlab-github-signature"),
    ],
)
def test_signature_forms(provider: str, headers: dict[str, str], ok: bool) -> None:
    assert verify(provider, SECRET, headers, BODY) is ok


@pytest.mark.parametrize(
    ("provider", "headers"),
    [
        pytest.param("github", {"X-GitHub-Delivery": "d1"}, id="github-no-event"),
        pytest.param("gitlab", {"X-Gitlab-Event-UUID": "u1"}, id="gitlab-no-event"),
    ],
)
def test_a_missing_event_header_is_malformed_not_a_push(provider: str,
                                                        headers: dict[str, str]) -> None:
    with pytest.raises(InvalidWebhook, match=r"without a x-(github|gitlab)-event header"):
        parse_push(provider, headers, BODY)


@pytest.mark.parametrize(
    ("provider", "headers", "delivery"),
    [
        pytest.param("github", {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d1"}, "d1",
                     id="github"),
        pytest.param("gitlab", {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "u1"},
                     "u1", id="gitlab-uuid"),
        pytest.param("gitlab", {"X-Gitlab-Event": "Push Hook", "Idempotency-Key": "k1"}, "k1",
                     id="gitlab-idempotency-key"),
        # The webhook's own UUID is the same for every delivery: not a delivery id.
        pytest.param("gitlab", {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Webhook-UUID": "w"},
                     body_digest(BODY), id="gitlab-webhook-uuid-ignored"),
        pytest.param("generic", {"X-Delivery-Id": "g1"}, "g1", id="generic"),
        pytest.param("generic", {"X-Request-Id": "r1"}, body_digest(BODY),
                     id="generic-request-id-ignored"),
    ],
)
def test_delivery_id_headers(provider: str, headers: dict[str, str], delivery: str) -> None:
    event = parse_push(provider, headers, BODY)
    assert event is not None and event.delivery_id == delivery


def test_other_events_are_not_pushes() -> None:
    assert parse_push("github", {"X-GitHub-Event": "ping"}, b"{}") is None
    assert parse_push("gitlab", {"X-Gitlab-Event": "Merge Request Hook"}, b"{}") is None


def test_a_captured_body_under_a_new_delivery_id_is_a_replay() -> None:
    guard = ReplayGuard()
    assert guard.accept_delivery("d1", BODY)
    assert not guard.accept_delivery("d2", BODY)  # same signed body, new id
    assert not guard.accept_delivery("d1", BODY + b" ")  # same id, other body
    assert guard.accept_delivery("d3", BODY + b"  ")


def test_replay_memory_is_bounded() -> None:
    guard = ReplayGuard(max_entries=4)
    for i in range(10):
        assert guard.accept_delivery(f"d{i}", str(i).encode())
    assert len(guard._seen) <= 4
    assert guard.accept_delivery("d0", b"0")  # forgotten long ago
