"""GitSource against real repositories served by a real git HTTP server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from driftless.errors import ConfigError, SourceError
from driftless.source import GitSource, SourceSpec
from gitserver import GitHttpServer, Workdir, git, git_server, init_bare

__all__ = ["git_server"]


@pytest.fixture
def repo(git_server: GitHttpServer, tmp_path: Path) -> tuple[str, Workdir]:
    """app.git with a first commit (tag v1.16.0) on main; returns (url, workdir)."""
    init_bare(git_server.repos_root, "app.git")
    url = f"{git_server.url}/app.git"
    wd = Workdir.clone(url, tmp_path / "wd")
    wd.write({"stacks/app/stack.yaml": "replicas: 1\n", "README": "hi\n"})
    wd.commit("first").tag("v1.16.0").push()
    return url, wd


def source(url: str, tmp_path: Path, **kw: str) -> GitSource:
    return GitSource(SourceSpec(url=url, **kw), cache_dir=tmp_path / "cache")


def test_fetch_branch_exports_tree_and_subpath(repo: tuple[str, Workdir], tmp_path: Path) -> None:
    url, wd = repo
    got = source(url, tmp_path, path="stacks/app").fetch()
    assert got.revision == wd.head()
    assert got.ref_resolved == "refs/heads/main"
    assert (got.path / "stack.yaml").read_text() == "replicas: 1\n"
    assert got.digest == git("rev-parse", "HEAD:stacks/app", cwd=wd.path).strip()


def test_moving_branch_gives_new_revision_and_changed_paths(
    repo: tuple[str, Workdir], tmp_path: Path
) -> None:
    url, wd = repo
    src = source(url, tmp_path, path="stacks")
    first = src.fetch()
    wd.write({"stacks/app/stack.yaml": "replicas: 3\n", "README": "changed\n"}).commit("scale")
    wd.push()
    second = src.fetch()
    assert second.revision == wd.head() != first.revision
    assert second.digest != first.digest
    assert (second.path / "app/stack.yaml").read_text() == "replicas: 3\n"
    assert src.changed_paths(first.revision, second.revision) == ["app/stack.yaml"]
    assert src.describe(second.revision) == f"{second.revision[:7]} scale"


def test_readme_change_outside_path_keeps_digest(repo: tuple[str, Workdir], tmp_path: Path) -> None:
    url, wd = repo
    src = source(url, tmp_path, path="stacks")
    first = src.fetch()
    wd.write({"README": "other\n"}).commit("docs").push()
    second = src.fetch()
    assert second.revision != first.revision
    assert second.digest == first.digest


def test_fetch_tag_and_commit_and_short_commit(repo: tuple[str, Workdir], tmp_path: Path) -> None:
    url, wd = repo
    tagged = wd.head()
    wd.write({"README": "two\n"}).commit("second").push()
    by_tag = source(url, tmp_path / "a", ref="v1.16.0").fetch()
    assert (by_tag.revision, by_tag.ref_resolved) == (tagged, "refs/tags/v1.16.0")
    by_sha = source(url, tmp_path / "b", ref=tagged).fetch()
    assert by_sha.revision == tagged
    assert (by_sha.path / "README").read_text() == "hi\n"
    by_short = source(url, tmp_path / "c", ref=tagged[:8]).fetch()
    assert by_short.revision == tagged


def test_semver_range_picks_newest_tag_inside(repo: tuple[str, Workdir], tmp_path: Path) -> None:
    url, wd = repo
    heads = {}
    for tag in ("v1.18.2", "1.18.10", "v1.19.0", "v1.18.11-rc.1"):
        wd.write({"VERSION": tag}).commit(f"release {tag}").tag(tag)
        heads[tag] = wd.head()
    wd.push()
    got = source(url, tmp_path, ref=">=1.16.0 <1.19.0").fetch()
    assert got.ref_resolved == "refs/tags/1.18.10"
    assert got.revision == heads["1.18.10"]


def test_annotated_tag_resolves_to_its_commit(repo: tuple[str, Workdir], tmp_path: Path) -> None:
    url, wd = repo
    git("tag", "-a", "v2.0.0", "-m", "two", cwd=wd.path)
    wd.push()
    got = source(url, tmp_path, ref="^2").fetch()
    assert got.revision == wd.head()


def test_unknown_ref_is_config_error_naming_it(repo: tuple[str, Workdir], tmp_path: Path) -> None:
    url, _ = repo
    with pytest.raises(ConfigError, match="ref 'nope' not found") as info:
        source(url, tmp_path, ref="nope").fetch()
    assert url in str(info.value)
    assert "main" in (info.value.hint or "")
    with pytest.raises(ConfigError, match=r"no tag .* matches version range '>=9'"):
        source(url, tmp_path, ref=">=9").fetch()
    with pytest.raises(ConfigError, match="commit 'deadbeef' not found"):
        source(url, tmp_path, ref="deadbeef").fetch()


def test_missing_path_and_escaping_path_are_config_errors(
    repo: tuple[str, Workdir], tmp_path: Path
) -> None:
    url, _ = repo
    with pytest.raises(ConfigError, match="path 'stacks/web' does not exist"):
        source(url, tmp_path, path="stacks/web").fetch()
    with pytest.raises(ConfigError, match="must be relative"):
        source(url, tmp_path, path="../etc")


def test_server_down_is_source_error_then_recovers(
    repo: tuple[str, Workdir], git_server: GitHttpServer, tmp_path: Path
) -> None:
    url, wd = repo
    src = source(url, tmp_path)
    src.fetch()
    git_server.stop()
    with pytest.raises(SourceError, match=f"cannot fetch {url} \\(ref 'main'\\)"):
        src.fetch()
    git_server.start()
    wd.write({"README": "back\n"}).commit("after outage").push()
    assert src.fetch().revision == wd.head()


def test_old_trees_are_pruned_and_checkout_restores(
    repo: tuple[str, Workdir], tmp_path: Path
) -> None:
    url, wd = repo
    src = GitSource(SourceSpec(url=url), cache_dir=tmp_path / "cache", keep=2)
    revs = [src.fetch().revision]
    for n in range(3):
        wd.write({"README": f"v{n}\n"}).commit(f"c{n}").push()
        revs.append(src.fetch().revision)
    kept = {p.name for p in (tmp_path / "cache").iterdir() if len(p.name) == 40}
    assert kept == set(revs[-2:])
    old = src.checkout(revs[0])
    assert (old.path / "README").read_text() == "hi\n"
    assert old.revision == revs[0]


def test_file_url_and_plain_path(tmp_path: Path) -> None:
    wd = Workdir.init(tmp_path / "local").write({"a.txt": "1\n"}).commit("one")
    for n, url in enumerate((str(wd.path), f"file://{wd.path}")):
        got = GitSource(SourceSpec(url=url), cache_dir=tmp_path / f"cache{n}").fetch()
        assert got.revision == wd.head()
        assert (got.path / "a.txt").read_text() == "1\n"


def test_force_pushed_branch_is_followed(repo: tuple[str, Workdir], tmp_path: Path) -> None:
    url, wd = repo
    src = source(url, tmp_path)
    base = src.fetch().revision
    wd.write({"README": "doomed\n"}).commit("doomed").push()
    doomed = src.fetch().revision
    git("reset", "-q", "--hard", base, cwd=wd.path)
    wd.write({"README": "rewritten\n"}).commit("rewritten").push()
    got = src.fetch()
    assert got.revision == wd.head() not in (base, doomed)
    assert (got.path / "README").read_text() == "rewritten\n"


def test_two_sources_sharing_a_cache_fetch_concurrently(
    repo: tuple[str, Workdir], tmp_path: Path
) -> None:
    url, wd = repo
    sources = [source(url, tmp_path) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: s.fetch(), sources))
    assert {r.revision for r in results} == {wd.head()}
    assert all((r.path / "README").read_text() == "hi\n" for r in results)
