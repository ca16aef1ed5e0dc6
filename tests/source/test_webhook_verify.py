"""Webhook signatures, push parsing, replays and branch filtering."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from driftless.source import (
    InvalidWebhook,
    PushEvent,
    ReplayGuard,
    SourceSpec,
    event_matches,
    parse_push,
    verify,
    verify_github,
    verify_gitlab,
    verify_hmac,
)

SECRET = b"hook-secret"
SHA = "a" * 40


def github_body(ref: str = "refs/heads/main") -> bytes:
    repo = {"full_name": "acme/infra", "clone_url": "https://github.com/acme/infra.git"}
    return json.dumps({"ref": ref, "after": SHA, "repository": repo}).encode()


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        pytest.param(sign(github_body()), True, id="good"),
        pytest.param(sign(github_body(), b"other"), False, id="wrong-secret"),
        pytest.param(sign(github_body("refs/heads/dev")), False, id="other-body"),
        pytest.param(sign(github_body())[7:], False, id="no-prefix"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="missing"),
        pytest.param("sha256=zz", False, id="garbage"),
    ],
)
def test_verify_github(header: str | None, ok: bool) -> None:
    assert verify_github(SECRET, github_body(), header) is ok


def test_verify_generic_and_gitlab() -> None:
    body = b'{"ref": "main"}'
    assert verify_hmac(SECRET, body, sign(body))
    assert verify_hmac(SECRET, body, "sha256=" + sign(body)[7:].upper())  # hex in either case
    assert not verify_hmac(SECRET, body, sign(body)[7:])  # bare hex: undocumented, now refused
    assert not verify_hmac(SECRET, body + b" ", sign(body))
    assert not verify_hmac(b"", body, sign(body, b""))
    assert verify_gitlab("tok", "tok")
    assert not verify_gitlab("tok", "tok2")
    assert not verify_gitlab("tok", None)
    assert not verify_gitlab("", "")


def test_verify_by_provider_reads_the_right_header() -> None:
    body = github_body()
    assert verify("github", SECRET, {"X-Hub-Signature-256": sign(body)}, body)
    assert not verify("github", SECRET, {"X-Signature-256": sign(body)}, body)
    assert verify("generic", SECRET, {"x-signature-256": sign(body)}, body)
    assert verify("gitlab", SECRET, {"X-Gitlab-Token": SECRET.decode()}, body)
    with pytest.raises(InvalidWebhook, match="unknown webhook provider 'bitbucket'"):
        verify("bitbucket", SECRET, {}, body)


def test_parse_github_push_and_ping() -> None:
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1"}
    event = parse_push("github", headers, github_body())
    assert event == PushEvent("d-1", "refs/heads/main", SHA, "https://github.com/acme/infra.git")
    assert parse_push("github", {"X-GitHub-Event": "ping"}, b"{}") is None


def test_parse_gitlab_and_generic() -> None:
    body = json.dumps(
        {"ref": "refs/tags/v1.2.0", "after": SHA, "project": {"path_with_namespace": "acme/infra"}}
    ).encode()
    event = parse_push("gitlab", {"X-Gitlab-Event": "Tag Push Hook"}, body)
    assert event is not None
    assert (event.ref, event.repository) == ("refs/tags/v1.2.0", "acme/infra")
    assert event.delivery_id.startswith("sha256:")  # no id header: the body is the id
    generic = parse_push("generic", {"X-Delivery-Id": "g1"}, b'{"ref": "main", "after": "b"}')
    assert generic == PushEvent("g1", "refs/heads/main", "b", "")


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"not json", "not JSON"), (b"[1]", "not a JSON object"), (b'{"after": "x"}', "'ref'")],
)
def test_malformed_push_is_rejected(body: bytes, message: str) -> None:
    with pytest.raises(InvalidWebhook, match=message):
        parse_push("github", {"X-GitHub-Event": "push"}, body)


def test_replay_guard_rejects_seen_ids_and_forgets_oldest() -> None:
    guard = ReplayGuard(max_entries=2)
    assert guard.accept("a")
    assert not guard.accept("a")
    assert guard.accept("b")
    assert guard.accept("c")  # evicts "a"
    assert "a" not in guard
    assert guard.accept("a")
    assert not guard.accept("c")


def push(ref: str, repo: str = "", after: str = SHA) -> PushEvent:
    return PushEvent("id", ref, after, repo)


def ref_case(ref: str, wanted: str, matches: bool, case_id: str, *,
             after: str = SHA) -> pytest.ParameterSet:
    """A push of ``ref`` against a source following ``wanted`` (same repository)."""
    return pytest.param(push(ref, after=after), SourceSpec(url="/r", ref=wanted), matches,
                        id=case_id)


def repo_case(repo: str, url: str, matches: bool, case_id: str) -> pytest.ParameterSet:
    """A push to main of ``repo`` against a source at ``url`` following main."""
    return pytest.param(push("refs/heads/main", repo), SourceSpec(url=url), matches, id=case_id)


GITHUB_INFRA = "https://github.com/acme/infra.git"


@pytest.mark.parametrize(
    ("event", "spec", "matches"),
    [
        ref_case("refs/heads/main", "main", True, "branch"),
        ref_case("refs/heads/dev", "main", False, "other-branch"),
        ref_case("refs/heads/main", "main", False, "delete", after="0" * 40),
        ref_case("refs/tags/v1.18.3", ">=1.16 <1.19", True, "range"),
        ref_case("refs/tags/v1.19.0", ">=1.16 <1.19", False, "out-of-range"),
        ref_case("refs/heads/main", ">=1", False, "range-vs-branch"),
        ref_case("refs/tags/v2", "v2", True, "tag"),
        repo_case(GITHUB_INFRA, "git@github.com:acme/infra.git", True, "same-repo-ssh-vs-https"),
        repo_case("acme/infra", "https://github.com/acme/infra", True, "full-name"),
        repo_case("https://github.com/acme/other.git", GITHUB_INFRA, False, "other-repo"),
        repo_case("https://gitlab.com/acme/infra.git", GITHUB_INFRA, False, "other-host"),
    ],
)
def test_event_matches(event: PushEvent, spec: SourceSpec, matches: bool) -> None:
    assert event_matches(event, spec) is matches
