"""The ssh provider: the local kinds, run on other machines over SSH.

A resource ``ssh:file/motd`` is ``local:file/motd`` plus one property,
``ssh_target`` (``ssh://user@host:port``; render fills it in from a stack's
or a resource's ``target:``, resolving inventory names). There is no second
copy of any kind: ``_Targeted`` hands the local kind's handler a
``SshHost`` (the ``providers/local/_host`` seam) for the resource's target
and strips ``ssh_target`` before the kind sees the properties. The target is
kept as an attribute, so a delete (from state alone) and crash recovery
(from a journal intent) find the host again, and moving a resource to
another host replaces it. I/O: the network, through ``transport``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, create_model

from driftless.errors import ConfigError, ProviderError
from driftless.model import Action, Change, FieldDiff, Health, LiveResource, Resource, ResourceId
from driftless.providers.base import KindHandler, KindProvider, KindSpec
from driftless.providers.ssh.settings import settings_from
from driftless.providers.ssh.target import HostDown, SshTarget, parse_target

if TYPE_CHECKING:
    from driftless.providers.ssh.transport import Transport

__all__ = ["KINDS", "SshProvider", "settings_from"]

T = TypeVar("T")

KINDS = {
    "file": "files", "directory": "files", "symlink": "files", "template": "template",
    "env_file": "env_file", "command": "command", "git_checkout": "git_checkout",
    "download": "download", "marker_wait": "marker", "systemd_unit": "systemd",
    "service": "driftless.providers.ssh.service",
}
"""The local kinds that run over SSH, by the module of providers/local defining them
(``service`` by its ssh subclass, whose supervisor and checks run on the host)."""


_STAT_READ = frozenset({"file", "directory", "symlink", "template", "env_file", "download"})
"""Kinds whose read starts with an lstat of ``path`` (what ``prefetch`` fetches)."""


def _with_target(schema: type[BaseModel]) -> type[BaseModel]:
    model: type[BaseModel] = create_model(
        f"Ssh{schema.__name__}", __base__=schema,
        ssh_target=(str, Field(description="the host: ssh://user@host:port (render fills it in "
                                       "from target:)")))
    return model


def _bare(resource: Resource) -> Resource:
    """The resource as the local kind knows it: without ``ssh_target``."""
    props = {k: v for k, v in resource.properties.items() if k != "ssh_target"}
    return replace(resource, properties=props)


_UNREACHABLE = "ssh_unreachable"
"""``private`` key of a plan-time read whose host could not be reached (never stored:
the apply of that change fails, and state keeps the prior view)."""


def _tag(live: LiveResource | None, target: str) -> LiveResource | None:
    if live is None or live.attributes.get("ssh_target") == target:
        return live
    return replace(live, attributes={**live.attributes, "ssh_target": target})


class _Targeted(KindHandler):
    """A local kind's handler, run on the host each resource names."""

    local: ClassVar[KindHandler]

    def __init__(self, provider: SshProvider) -> None:
        self._provider = provider
        self._per_host: dict[SshTarget, KindHandler] = {}

    def on(self, target: Any, rid: ResourceId) -> KindHandler:
        """The local handler acting on ``target``'s host."""
        if not isinstance(target, str):
            raise ProviderError("target is not known yet", resource=rid)
        try:
            t = parse_target(target)
        except ConfigError as exc:
            raise ProviderError(exc.message, resource=rid, hint=exc.hint) from None
        h = self._per_host.get(t)
        if h is None:
            from driftless.providers.ssh.host import SshHost

            h = copy.copy(self.local)
            h.host = SshHost(self._provider.transport().connection(t))  # type: ignore[attr-defined]
            self._per_host[t] = h
        return h

    def _guard(self, rid: ResourceId, fn: Callable[[], T]) -> T:
        """Run ``fn``; a host that is down fails this resource, naming it."""
        try:
            return fn()
        except HostDown as exc:
            raise ProviderError(exc.message, resource=rid, retryable=exc.retryable,
                                hint=exc.hint) from None

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """The local kind's read, on the target host.

        A host that cannot be reached (down, refusing us, a changed host key) does
        not fail the plan: a resource it held before is returned as last recorded,
        marked ``unreachable``, so the plan shows it as a change of its own and the
        apply fails it (and what depends on it) alone, while other hosts go on.
        """
        target = resource.properties.get("ssh_target")
        h = self.on(target, resource.id)
        try:
            return _tag(h.read(_bare(resource), prior), str(target))
        except HostDown as exc:
            if prior is None:
                return None  # a create: the apply reports the host
            return replace(prior, private={**prior.private, _UNREACHABLE: exc.message})

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """The local kind's diff; another target replaces the resource."""
        target = desired.properties.get("ssh_target")
        if live is not None and _UNREACHABLE in live.private:
            why = str(live.private[_UNREACHABLE])
            return Change(desired.id, Action.UPDATE, desired, live,
                          (FieldDiff("ssh_target", target, target),),
                          reason=f"host unreachable, cannot check: {why}")
        change = replace(self.on(target, desired.id).diff(_bare(desired), live), desired=desired)
        if live is None or live.attributes.get("ssh_target") in (None, target):
            return change
        moved = FieldDiff("ssh_target", live.attributes.get("ssh_target"), target, False, True)
        return replace(change, action=Action.REPLACE, diffs=(moved, *change.diffs),
                       reason="ssh_target forces replacement")

    def _do(self, change: Change, how: Callable[[KindHandler, Change], LiveResource]) \
            -> LiveResource:
        assert change.desired is not None
        target = change.desired.properties.get("ssh_target")
        h = self.on(target, change.id)
        bare = replace(change, desired=_bare(change.desired))
        live = _tag(self._guard(change.id, lambda: how(h, bare)), str(target))
        assert live is not None
        return live

    def create(self, change: Change) -> LiveResource:
        """Create on the target host."""
        return self._do(change, lambda h, c: h.create(c))

    def update(self, change: Change) -> LiveResource:
        """Update on the target host."""
        return self._do(change, lambda h, c: h.update(c))

    def delete(self, prior: LiveResource) -> None:
        """Delete on the host the resource was made on (from its attributes)."""
        h = self.on(prior.attributes.get("ssh_target"), prior.id)
        self._guard(prior.id, lambda: h.delete(prior))

    def health(self, live: LiveResource) -> Health:
        """The local kind's health, on the host."""
        h = self.on(live.attributes.get("ssh_target"), live.id)
        return self._guard(live.id, lambda: h.health(live))

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        """Import by the local kind's id, on the target host."""
        target = resource.properties.get("ssh_target")
        h = self.on(target, resource.id)
        found = self._guard(resource.id, lambda: h.import_resource(_bare(resource), import_id))
        return _tag(found, str(target))

    def cleanup(self, resource: Resource) -> list[str]:
        """Remove what a killed apply left on the host (recovery calls this)."""
        h = self.on(resource.properties.get("ssh_target"), resource.id)
        return self._guard(resource.id, lambda: h.cleanup(_bare(resource)))


def _targeted_class(kind: str, module: str) -> type[_Targeted]:
    name = module if module.startswith("driftless.") else f"driftless.providers.local.{module}"
    local: KindHandler = importlib.import_module(name).HANDLERS[kind]
    s = local.spec
    spec = replace(
        s, schema=_with_target(s.model()), cheap=False, quick="",  # the check knows no ssh_target
        attributes={**s.attributes, "ssh_target": "the host (ssh://user@host:port)"},
        replace_on=s.replace_on | {"ssh_target"},
        identity=s.identity | {"ssh_target"})
    return type(f"Ssh{type(local).__name__}", (_Targeted,), {"spec": spec, "local": local})


async def _gather(jobs: list[Coroutine[Any, Any, None]]) -> None:
    await asyncio.gather(*jobs)


class _LazyKinds(Mapping[str, KindHandler]):
    """kind -> its targeted handler, made (and its local module imported) on first use."""

    def __init__(self, provider: SshProvider) -> None:
        self._provider = provider
        self._made: dict[str, KindHandler] = {}

    def __getitem__(self, kind: str) -> KindHandler:
        if kind not in self._made:
            if kind not in KINDS:
                raise KeyError(kind)
            self._made[kind] = _targeted_class(kind, KINDS[kind])(self._provider)
        return self._made[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)

    def __contains__(self, kind: object) -> bool:
        return kind in KINDS


class _Specs(Mapping[str, KindSpec]):
    """kind -> spec over ``_LazyKinds`` (render asks for names before any spec)."""

    def __init__(self, kinds: _LazyKinds) -> None:
        self._kinds = kinds

    def __getitem__(self, kind: str) -> KindSpec:
        return self._kinds[kind].spec

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds


class SshProvider(KindProvider):
    """The local kinds on hosts reached over SSH."""

    name: ClassVar[str] = "ssh"

    def __init__(self) -> None:
        super().__init__({})
        kinds = _LazyKinds(self)
        self._handlers = kinds  # type: ignore[assignment]
        self._specs = _Specs(kinds)  # type: ignore[assignment]
        self.settings = settings_from({})
        self._transport: Transport | None = None

    def configure(self, config: Mapping[str, Any]) -> None:
        """Read ``providers.ssh``: identity, known_hosts, trust_on_first_use, tofu_file,
        connect_timeout, request_timeout, keepalive, parallel, user, python."""
        super().configure(config)
        self.settings = settings_from(config)

    def transport(self) -> Transport:
        """The connection pool (its loop thread starts on first use)."""
        if self._transport is None:
            from driftless.providers.ssh.transport import Transport

            self._transport = Transport(self.settings)
        return self._transport

    def prefetch(self, resources: Sequence[Resource]) -> None:
        """Before a plan's reads: stat every path of every host in one round trip per
        host, all hosts at once (the planner's optional hook); a no-op read of a file
        then costs no round trip of its own. A host that fails here fails in its reads."""
        by_host: dict[SshTarget, list[str]] = {}
        for r in resources:
            if r.id.kind not in _STAT_READ:
                continue
            target, path = r.properties.get("ssh_target"), r.properties.get("path")
            if isinstance(target, str) and isinstance(path, str):
                with contextlib.suppress(ConfigError):
                    by_host.setdefault(parse_target(target), []).append(path)
        if not by_host:
            return
        pool = self.transport()
        jobs = [pool.connection(t).prefetch_lstat(paths) for t, paths in by_host.items()]
        pool.run(_gather(jobs))

    def kinds(self) -> Mapping[str, KindSpec]:
        """Each local kind that runs over SSH, with ``ssh_target`` added."""
        return self._specs

    def close(self) -> None:
        """Close every connection."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
