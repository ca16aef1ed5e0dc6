"""Find providers through the ``driftless.providers`` entry point group.

Third-party packages add providers by declaring an entry point; nothing here
names a provider except through that table. Loading is lazy at both levels,
because every CLI run pays for what it imports: a provider is imported when
a resource first names it (its entry point resolved by name), and a
``LazyKindProvider`` imports a kind's module when that kind is first used
(a local-only plan of files never imports the HTTP client of ``download``
or the template sandbox).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from driftless.errors import ConfigError
from driftless.providers.base import KindHandler, KindProvider, KindSpec, Provider

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["LazyKindProvider", "ProviderSet", "available_providers", "load_provider"]

GROUP = "driftless.providers"

BUILTIN = {
    "local": "driftless.providers.local:LocalProvider",
    "aws": "driftless.providers.aws:AwsProvider",
    "random": "driftless.providers.random:RandomProvider",
    "k8s": "driftless.providers.k8s:K8sProvider",
    "ssh": "driftless.providers.ssh:SshProvider",
}
"""driftless's own providers, as its package declares them in the entry point
group (a test keeps the two equal). They are loaded from here without asking
``importlib.metadata``, whose import and scan of every installed package cost
more than a no-op plan of a small stack; these names are reserved."""


def available_providers() -> list[str]:
    """Names of every installed provider."""
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group=GROUP))


def _entry_point(name: str) -> EntryPoint | None:
    """The entry point named ``name`` of the group (by name: the selection is
    done by ``importlib.metadata``, nothing else is resolved or imported)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=GROUP, name=name):
        return ep
    return None


def load_provider(name: str) -> Provider:
    """Instantiate the provider registered as ``name``."""
    if name in BUILTIN:
        module, _, factory_name = BUILTIN[name].partition(":")
        made: Provider = getattr(importlib.import_module(module), factory_name)()
        return made
    ep = _entry_point(name)
    if ep is None:
        raise ConfigError(
            f"provider '{name}' is not installed",
            hint=f"installed providers: {', '.join(available_providers()) or 'none'}",
        )
    factory = ep.load()
    provider: Provider = factory()
    return provider


class _LazyHandlers(Mapping[str, KindHandler]):
    """kind -> handler, importing the kind's module (its ``HANDLERS``) on first use."""

    def __init__(self, package: str, modules: Mapping[str, str]) -> None:
        self._package = package
        self._modules = dict(modules)
        self._loaded: dict[str, KindHandler] = {}

    def __getitem__(self, kind: str) -> KindHandler:
        try:
            return self._loaded[kind]
        except KeyError:
            return self._load(kind)

    def _load(self, kind: str) -> KindHandler:
        module = importlib.import_module(f"{self._package}.{self._modules[kind]}")
        handlers: Mapping[str, KindHandler] = module.HANDLERS
        if kind not in handlers:
            raise KeyError(kind)
        self._loaded.update({k: h for k, h in handlers.items() if k in self._modules})
        return handlers[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __contains__(self, kind: object) -> bool:
        return kind in self._modules


class _LazySpecs(Mapping[str, KindSpec]):
    """kind -> spec over ``_LazyHandlers``; ``get`` is the engine's per-resource path."""

    def __init__(self, handlers: _LazyHandlers) -> None:
        self._handlers = handlers
        self._specs: dict[str, KindSpec] = {}

    def get(self, kind: str, default: Any = None) -> Any:
        """The kind's spec (its module imported now if it was not yet), or ``default``."""
        try:
            return self._specs[kind]
        except KeyError:
            if kind not in self._handlers:
                return default
            spec = self._specs[kind] = self._handlers[kind].spec
            return spec

    def __getitem__(self, kind: str) -> KindSpec:
        spec: KindSpec | None = self.get(kind)
        if spec is None:
            raise KeyError(kind)
        return spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers


class LazyKindProvider(KindProvider):
    """A ``KindProvider`` whose kinds live in modules of one package, each
    exposing ``HANDLERS``; a module is imported when one of its kinds is first
    used (its spec asked for, or a resource of it read or applied)."""

    def __init__(self, package: str, modules: Mapping[str, str]) -> None:
        super().__init__({})
        handlers = _LazyHandlers(package, modules)
        self._handlers = handlers  # type: ignore[assignment]
        self._specs = _LazySpecs(handlers)  # type: ignore[assignment]


class ProviderSet:
    """Configured providers for one run, created on first use and closed together."""

    def __init__(self, config: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._config = dict(config or {})
        self._loaded: dict[str, Provider] = {}

    @property
    def config(self) -> Mapping[str, Mapping[str, Any]]:
        """Each provider's settings from driftless.yaml (what a remembered plan
        depends on besides the stack and state)."""
        return self._config

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
