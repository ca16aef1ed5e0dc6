"""Flux-style setter markers rewrite exactly the marked values and nothing else:
fixtures in tests/images/fixtures/setters (original/ -> expected/; files not in
expected/ must come out unchanged)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from driftless.images.setters import LatestImage, update_text, update_tree

FIXTURES = Path(__file__).parent / "fixtures" / "setters"
DIGEST = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
POLICIES = {
    "shop:api": LatestImage("registry.local/shop/api", "1.5.2"),
    "shop:web": LatestImage("registry.local/shop/web", "2.1.0-rc.1"),
    "shop:worker": LatestImage("registry.local/shop/worker", "main-7f3a-1733500000", DIGEST),
}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_fixtures_rewrite_to_expected(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(FIXTURES / "original", work)
    changes = update_tree(work, POLICIES)
    before, after = _files(FIXTURES / "original"), _files(work)
    expected = _files(FIXTURES / "expected")
    changed = {name for name in after if after[name] != before[name]}
    assert changed == set(expected)
    for name, text in expected.items():
        assert after[name] == text, name
    assert {c.file for c in changes} == set(expected)
    kinds = sorted({(c.policy, c.field) for c in changes}, key=str)
    assert kinds == sorted({("shop:api", None), ("shop:api", "name"), ("shop:api", "tag"),
                            ("shop:web", None), ("shop:web", "tag"), ("shop:worker", None),
                            ("shop:worker", "tag"),
                            ("shop:worker", "digest")}, key=str)
    again = update_tree(work, POLICIES)
    assert again == [], "a second run changes nothing"


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(FIXTURES / "original", work)
    changes = update_tree(work, POLICIES, write=False)
    assert changes and _files(work) == _files(FIXTURES / "original")
    first = changes[0]
    assert (first.file, first.line, first.old, first.new) == (
        "Kustomization", 6, "2.0.0", "2.1.0-rc.1")


@pytest.mark.parametrize(("line", "out"), [
    ('tag: v1 # {"$imagepolicy": "shop:api:tag"}\n',
     'tag: 1.5.2 # {"$imagepolicy": "shop:api:tag"}\n'),
    ('t: "1" # {"$imagepolicy": "shop:api:tag"}\n',
     't: "1.5.2" # {"$imagepolicy": "shop:api:tag"}\n'),
    ('t: x # {"$imagepolicy": "shop:api:version"}\n', None),
    ('t: x # {"$imagepolicy": "nowhere:api"}\n', None),
    ('t: |\n  x # {"$imagepolicy": "shop:api"}\n', None),
    ('t: x#{"$imagepolicy": "shop:api"}\n', None),
], ids=["plain-tag", "quoted-number-stays-string", "unknown-field", "unknown-policy",
        "block-scalar", "no-space-is-not-a-comment"])
def test_single_lines(line: str, out: str | None) -> None:
    text, changes = update_text(line, POLICIES)
    assert text == (out or line)
    assert bool(changes) is (out is not None)


def test_a_plain_value_that_would_change_type_is_quoted() -> None:
    policies = {"a:b": LatestImage("r", "1.10")}
    text, _ = update_text('newTag: v1 # {"$imagepolicy": "a:b:tag"}\n', policies)
    assert text == 'newTag: "1.10" # {"$imagepolicy": "a:b:tag"}\n'
