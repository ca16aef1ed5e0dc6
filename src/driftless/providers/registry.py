"""Find providers through the ``driftless.providers`` entry point group.

Third-party packages add providers by declaring an entry point; nothing here
names a provider except through that table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from driftless.errors import ConfigError
from driftless.providers.base import KindSpec, Provider

__all__ = ["ProviderSet", "available_providers", "load_provider"]

GROUP = "driftless.providers"


def available_providers() -> list[str]:
    """Names of every installed provider."""
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_provider(name: str) -> Provider:
    """Instantiate the provider registered as ``name``."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        raise ConfigError(
            f"provider '{name}' is not installed",
            hint=f"installed providers: {', '.join(available_providers()) or 'none'}",
        )
    factory = matches[0].load()
    provider: Provider = factory()
    return provider


class ProviderSet:
    """Configured providers for one run, created on first use and closed together."""

    def __init__(self, config: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._config = dict(config or {})
        self._loaded: dict[str, Provider] = {}

    def get(self, name: str) -> Provider:
        """The configured provider ``name`` (loaded once)."""
        if name not in self._loaded:
            provider = load_provider(name)
            provider.configure(self._config.get(name, {}))
            self._loaded[name] = provider
        return self._loaded[name]

    def add(self, provider: Provider) -> None:
        """Use an already-built provider (tests, embedding)."""
        self._loaded[provider.name] = provider

    def spec(self, provider: str, kind: str) -> KindSpec | None:
        """A kind's spec, or None when the provider lacks the kind."""
        return self.get(provider).kinds().get(kind)

    def __call__(self, provider: str, kind: str) -> KindSpec | None:
        """The set as render's ``KindLookup``: None for a missing provider or kind,
        so render reports both at the resource's ``type:`` line."""
        try:
            return self.spec(provider, kind)
        except ConfigError:
            return None

    def kind_names(self, provider: str) -> list[str] | None:
        """An installed provider's kinds, sorted (None: not installed).

        Render uses it to report an unknown kind with a did-you-mean at the
        ``type:`` line; every command that renders should pass the set itself as
        ``kinds=`` so that validate, plan and apply word the error alike.
        """
        try:
            return sorted(self.get(provider).kinds())
        except ConfigError:
            return None

    def require(self, names: Iterable[str]) -> None:
        """Load every named provider now, so a missing one fails before any work."""
        for n in sorted(set(names)):
            self.get(n)

    def close(self) -> None:
        """Close every loaded provider."""
        for p in self._loaded.values():
            p.close()
        self._loaded.clear()
