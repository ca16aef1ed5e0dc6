"""Providers: one per API (local host, AWS, ...), found by entry points."""

from driftless.providers.base import (
    KindHandler,
    KindProvider,
    KindSpec,
    Provider,
    comparable,
    diff_properties,
    schema_problems,
)
from driftless.providers.registry import ProviderSet, available_providers, load_provider

__all__ = [
    "KindHandler",
    "KindProvider",
    "KindSpec",
    "Provider",
    "ProviderSet",
    "available_providers",
    "comparable",
    "diff_properties",
    "load_provider",
    "schema_problems",
]
