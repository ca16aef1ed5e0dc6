"""What a provider hands back keeps no secret: attributes echoed in clear (like
tags), attributes secret by nature (``KindSpec.sensitive_attributes``), the
journal's intents and outcomes, and state adopted by recovery."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from driftless.engine import Engine
from driftless.model import (
    Action,
    Change,
    Health,
    LiveResource,
    Resource,
    ResourceId,
    Sensitive,
    reveal,
)
from driftless.model.digest_key import KEY_ENV, KEY_FILE_ENV
from driftless.providers import KindSpec, ProviderSet, diff_properties
from driftless.state import Journal, JournalEntry
from engine_helpers import backend, stack


@pytest.fixture(autouse=True)
def _digest_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key file of this test's own, never the real home's."""
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "_keys" / "digest.key"))
    monkeypatch.delenv(KEY_ENV, raising=False)


class ThingProps(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    tags: dict[str, str] = {}


class EchoProvider:
    """Not a ``KindProvider``: it echoes tags in clear and invents a password,
    so only the engine stands between them and state."""

    name: ClassVar[str] = "echo"
    spec = KindSpec("thing", ThingProps, "a thing", sensitive_attributes=frozenset({"password"}))

    def __init__(self) -> None:
        self.world: dict[str, dict[str, Any]] = {}

    def kinds(self) -> Mapping[str, KindSpec]:
        return {"thing": self.spec}

    def configure(self, config: Mapping[str, Any]) -> None:
        pass

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        obj = self.world.get(str(reveal(resource.properties.get("name", resource.id.name))))
        return LiveResource(resource.id, dict(obj)) if obj else None

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        return diff_properties(self.spec, desired, live)

    def apply(self, change: Change) -> LiveResource | None:
        if change.desired is None:
            return None
        props = reveal(change.desired.properties)
        self.world[props["name"]] = {"name": props["name"], "tags": props.get("tags", {}),
                                     "password": "pw-" + secrets.token_hex(6)}
        return LiveResource(change.id, dict(self.world[props["name"]]))

    def health(self, live: LiveResource) -> Health:
        return Health.healthy()

    def lookup(self, kind: str, query: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return []

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        return self.read(resource, None)

    def close(self) -> None:
        pass


class RecordingJournal:
    """The real journal, with every payload it was given kept for inspection."""

    def __init__(self, inner: Journal, seen: list[str]) -> None:
        self.inner, self.seen = inner, seen

    def begin(self, address: str, action: str, intent: Mapping[str, Any]) -> int:
        self.seen.append(json.dumps(intent, default=str))
        return self.inner.begin(address, action, intent)

    def finish(self, seq: int, *, ok: bool, live: Mapping[str, Any] | None) -> None:
        self.seen.append(json.dumps(live, default=str))
        self.inner.finish(seq, ok=ok, live=live)

    def entries(self) -> list[JournalEntry]:
        return self.inner.entries()

    def clear(self, upto: int) -> None:
        self.inner.clear(upto)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Engine, EchoProvider, list[str]]]:
    providers = ProviderSet()
    echo = EchoProvider()
    providers.add(echo)
    be = backend(tmp_path)
    seen: list[str] = []
    real = be.journal
    be.journal = lambda name: RecordingJournal(real(name), seen)
    yield Engine(providers=providers, backend=be, workers=2), echo, seen
    be.close()


def thing(secret: str, name: str = "t") -> Resource:
    return Resource(ResourceId("echo", "thing", name),
                    {"name": name, "tags": {"token": Sensitive(secret), "team": "ops"}})


def state_text(eng: Engine, name: str = "s") -> str:
    return json.dumps(eng.backend.read(name).to_json())


def test_echoed_tags_and_password_stay_digests(
    setup: tuple[Engine, EchoProvider, list[str]],
) -> None:
    eng, echo, seen = setup
    canary = f"CANARY-{secrets.token_hex(8)}"
    desired = stack("s", [thing(canary)])
    assert eng.apply(eng.plan(desired), desired).ok
    assert echo.world["t"]["tags"]["token"] == canary  # the target holds it
    password = echo.world["t"]["password"]
    text = state_text(eng)
    assert canary not in text and password not in text and '"team": "ops"' in text
    assert seen and not [s for s in seen if canary in s or password in s]
    assert not eng.plan(desired).has_changes()
    changed = eng.plan(stack("s", [thing(canary + "-2")]))
    (change,) = changed.pending()
    assert change.action is Action.UPDATE
    assert change.diffs[0].shown() == ("(sensitive)", "(sensitive)")
    assert canary not in json.dumps(changed.to_json())


def test_recovery_adopts_without_clear_secrets(
    setup: tuple[Engine, EchoProvider, list[str]],
) -> None:
    eng, echo, _ = setup
    canary = f"CANARY-{secrets.token_hex(8)}"
    desired = stack("s", [thing(canary), thing(canary, "gone")])
    for res in desired.resources:  # an apply that crashed after creating, before recording
        echo.apply(Change(res.id, Action.CREATE, res))
        inputs = {"name": res.properties["name"],
                  "tags": {"token": Sensitive(canary).digest(), "team": "ops"}}
        eng.backend.journal("s").begin(str(res.id), "create", {"inputs": inputs, "prior": None})
    # "gone" has left the configuration: its digest in the inputs is all there is
    notes = eng.recover("s", stack("s", [thing(canary)]))
    assert len(notes) == 2 and all("adopted" in n for n in notes)
    assert canary not in state_text(eng)
    assert len(eng.backend.read("s").resources) == 2
