"""Image automation settings: ``settings.images`` of driftless.yaml.

    settings:
      images:
        repositories:
          api: {image: ghcr.io/acme/api}
        policies:
          shop:api:                               # the name markers use (namespace:name)
            repository: api
            semver: {range: ">=1.0.0 <3.0.0"}     # or numerical / alphabetical: {order: asc}
            filterTags: {pattern: '^v(?P<v>.*)$', extract: '$v'}
            digest: false                         # true: also keep the manifest digest
            review: major                         # this policy's rule (see update.review)
        update:
          paths: [stacks, environments]           # where markers are looked for (default: all)
          author: {name: driftless-images, email: images@driftless.invalid}
          message: "images: {summary}"            # {summary} and {changes} are filled in
          skip_ci: true                           # append [skip ci]
          review: none                            # none | major | all: which updates go to a
          branch: "images/{policy}-{tag}"         #   branch of their own instead of a direct push

Pure parsing; ``ConfigError`` names the setting at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from driftless.errors import ConfigError, settings_mapping
from driftless.images.policy import ImagePolicy, parse_policy
from driftless.records import record

__all__ = ["ImageSettings", "UpdateSettings", "image_settings"]

_REVIEW = ("none", "major", "all")


@record
class UpdateSettings:
    """How an update is committed and pushed."""

    paths: tuple[str, ...] = ()
    author_name: str = "driftless-images"
    author_email: str = "images@driftless.invalid"
    message: str = "images: {summary}"
    skip_ci: bool = True
    review: str = "none"
    branch: str = "images/{policy}-{tag}"


@record
class ImageSettings:
    """Repositories (name -> image), policies and update rules."""

    repositories: Mapping[str, str] = field(default_factory=dict)
    policies: Mapping[str, ImagePolicy] = field(default_factory=dict)
    digests: frozenset[str] = frozenset()  # policies that keep the manifest digest
    review: Mapping[str, str] = field(default_factory=dict)  # policy -> its own review rule
    update: UpdateSettings = field(default_factory=UpdateSettings)

    def review_rule(self, policy: str) -> str:
        return self.review.get(policy, self.update.review)


def _review(value: Any, where: str) -> str:
    if value not in _REVIEW:
        raise ConfigError(f"{where}: review is one of {', '.join(_REVIEW)}")
    return str(value)


def _update(doc: Any) -> UpdateSettings:
    if doc is None:
        return UpdateSettings()
    if not isinstance(doc, Mapping):
        raise ConfigError("settings.images.update must be a mapping")
    author = settings_mapping(doc.get("author"), "settings.images.update.author")
    base = UpdateSettings()
    paths = doc.get("paths") or ()
    if isinstance(paths, str) or not all(isinstance(p, str) for p in paths):
        raise ConfigError("settings.images.update.paths is a list of directories")
    return UpdateSettings(
        paths=tuple(paths),
        author_name=str(author.get("name", base.author_name)),
        author_email=str(author.get("email", base.author_email)),
        message=str(doc.get("message", base.message)),
        skip_ci=bool(doc.get("skip_ci", base.skip_ci)),
        review=_review(doc.get("review", base.review), "settings.images.update"),
        branch=str(doc.get("branch", base.branch)),
    )


def image_settings(settings: Mapping[str, Any]) -> ImageSettings | None:
    """The project's image settings, or None when it has none."""
    doc = settings.get("images")
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise ConfigError("settings.images must be a mapping (repositories, policies, update)")
    repos: dict[str, str] = {}
    given = settings_mapping(doc.get("repositories"), "settings.images.repositories")
    for name, repo in given.items():
        image = repo.get("image") if isinstance(repo, Mapping) else None
        if not isinstance(image, str):
            raise ConfigError(f"settings.images.repositories.{name}: needs an image",
                              hint="example: {image: ghcr.io/acme/api}")
        repos[str(name)] = image
    policies: dict[str, ImagePolicy] = {}
    digests: set[str] = set()
    review: dict[str, str] = {}
    for name, spec in settings_mapping(doc.get("policies"), "settings.images.policies").items():
        policy = parse_policy(str(name), spec)
        if policy.repository not in repos:
            raise ConfigError(f"settings.images.policies.{name}: unknown repository "
                              f"'{policy.repository}'",
                              hint=f"repositories: {', '.join(repos) or '(none)'}")
        policies[str(name)] = policy
        if spec.get("digest"):
            digests.add(str(name))
        if "review" in spec:
            review[str(name)] = _review(spec["review"], f"settings.images.policies.{name}")
    return ImageSettings(repos, policies, frozenset(digests), review, _update(doc.get("update")))
