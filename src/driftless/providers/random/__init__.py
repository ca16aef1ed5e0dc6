"""The random provider: values generated once and kept stable in state.

``random:Id/suffix`` (``byte_length`` → ``hex``, ``b64``, ``dec``) and
``random:String/password`` (``length`` with character classes). The value is
made at create and lives only in state attributes: ``read`` returns the prior
unchanged, so it never changes until a property or a ``keepers`` entry does
(every property forces replacement). No I/O beyond the OS random source.
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftless.errors import ProviderError
from driftless.model import Change, LiveResource, Resource
from driftless.providers.base import KindHandler, KindProvider, KindSpec

__all__ = ["RandomProvider"]


class IdProps(BaseModel):
    """``random:Id`` properties."""

    model_config = ConfigDict(extra="forbid")
    byte_length: int = Field(default=4, ge=1, le=64)
    prefix: str = ""
    keepers: dict[str, Any] = Field(default_factory=dict)


class StringProps(BaseModel):
    """``random:String`` properties."""

    model_config = ConfigDict(extra="forbid")
    length: int = Field(default=16, ge=1, le=1024)
    upper: bool = True
    lower: bool = True
    numeric: bool = True
    special: bool = False
    override_special: str | None = None
    keepers: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _some_chars(self) -> StringProps:
        if not self.alphabet():
            raise ValueError("every character class is off: nothing to choose from")
        return self

    def alphabet(self) -> str:
        """The characters the string is drawn from."""
        special = self.override_special if self.override_special is not None else "!@#$%&*-_=+"
        return "".join(chars for on, chars in (
            (self.upper, string.ascii_uppercase), (self.lower, string.ascii_lowercase),
            (self.numeric, string.digits), (self.special, special)) if on)


class _Stable(KindHandler):
    """Read returns what state holds; any property change replaces."""

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        return prior

    def delete(self, prior: LiveResource) -> None:
        """Nothing exists outside state."""

    def given(self, resource: Resource) -> dict[str, Any]:
        """The properties as the schema dumps them, to keep in attributes."""
        return dict(self.parse(resource).model_dump(mode="json"))


def _desired(change: Change) -> Resource:
    if change.desired is None:
        raise ProviderError("change has no desired resource", resource=change.id)
    return change.desired


class IdHandler(_Stable):
    """Random bytes, shown as hex, url-safe base64 and decimal."""

    spec = KindSpec(
        "Id", IdProps, "random bytes, stable once created (for unique names)",
        replace_on=frozenset({"byte_length", "prefix", "keepers"}),
        import_id="the hex value",
        attributes={"hex": "prefix + hex", "b64": "prefix + url-safe base64",
                    "dec": "prefix + decimal", "id": "same as hex"},
    )

    def create(self, change: Change) -> LiveResource:
        desired = _desired(change)
        props: IdProps = self.parse(desired)
        return LiveResource(change.id, _id_attrs(props, secrets.token_bytes(props.byte_length)))

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        props: IdProps = self.parse(resource)
        try:
            raw = bytes.fromhex(import_id.removeprefix(props.prefix))
        except ValueError:
            raise ProviderError(f"'{import_id}' is not a hex value", resource=resource.id,
                                hint="import random:Id with its hex value") from None
        return LiveResource(resource.id, _id_attrs(props.model_copy(
            update={"byte_length": len(raw)}), raw))


def _id_attrs(props: IdProps, raw: bytes) -> dict[str, Any]:
    b64 = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return {**props.model_dump(mode="json"), "hex": props.prefix + raw.hex(),
            "id": props.prefix + raw.hex(), "b64": props.prefix + b64,
            "dec": props.prefix + str(int.from_bytes(raw, "big"))}


class StringHandler(_Stable):
    """A random string drawn from the chosen character classes."""

    spec = KindSpec(
        "String", StringProps, "a random string, stable once created",
        replace_on=frozenset({"length", "upper", "lower", "numeric", "special",
                              "override_special", "keepers"}),
        import_id="the string", attributes={"result": "the string", "id": "the string"},
    )

    def create(self, change: Change) -> LiveResource:
        props: StringProps = self.parse(_desired(change))
        alphabet = props.alphabet()
        value = "".join(secrets.choice(alphabet) for _ in range(props.length))
        return LiveResource(change.id, {**props.model_dump(mode="json"), "result": value,
                                        "id": value})

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        props: StringProps = self.parse(resource)
        return LiveResource(resource.id, {**props.model_dump(mode="json"),
                                          "length": len(import_id), "result": import_id,
                                          "id": import_id})


class RandomProvider(KindProvider):
    """Random values for names and passwords, generated once."""

    name: ClassVar[str] = "random"

    def __init__(self) -> None:
        super().__init__({"Id": IdHandler(), "String": StringHandler()})
