"""local provider kind ``template``: a file rendered from a Jinja2 template.

I/O: reads the template ``source`` file (when given; render has resolved it
inside the project) and writes the result atomically through
``ContentFileHandler``. Rendering happens in ``_sandbox.BoundedSandbox`` with
StrictUndefined, so a missing variable is an error naming it, never an empty
string, and a hostile template is an error, never code run on this host.
When any variable is sensitive the content digest is keyed, the plan shows
the content only as ``(sensitive)`` and errors never repeat a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftless.errors import ProviderError
from driftless.model import (
    UNKNOWN,
    ResourceId,
    Sensitive,
    contains_sensitive,
    contains_unknown,
    reveal,
)
from driftless.providers.base import KindHandler, KindSpec
from driftless.providers.local._atomic import content_digest, os_error
from driftless.providers.local._paths import AbsPath, resolved_source
from driftless.providers.local._sandbox import render_template
from driftless.providers.local.files import MODE_PATTERN, ContentFileHandler

__all__ = ["HANDLERS", "render_template"]


class TemplateProps(BaseModel):
    """Properties of ``local:template``."""

    model_config = ConfigDict(extra="forbid")
    path: AbsPath = Field(description="where the rendered file is written (absolute)")
    template: str | None = Field(None, description="the Jinja2 template text, inline")
    source: str | None = Field(None, description="a file in the repository holding the "
                               "template (relative to the stack directory)")
    vars: dict[str, Any] = Field(default_factory=dict,
                                 description="variables (values may be sensitive)")
    mode: str | None = Field(None, pattern=MODE_PATTERN, description='octal, e.g. "0644"')
    owner: str | int | None = Field(None, description="user name or uid")
    group: str | int | None = Field(None, description="group name or gid")
    make_parents: bool = Field(False, description="create missing parent directories")

    @model_validator(mode="after")
    def _one_source(self) -> TemplateProps:
        if (self.template is None) == (self.source is None):
            raise ValueError("give exactly one of template (inline) or source (a file)")
        return self


def read_template(source: str, *, rid: ResourceId) -> str:
    """A template file's text; unreadable or non-UTF-8 is an error naming the resource."""
    try:
        with open(source, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise os_error(exc, path=source, rid=rid, doing="read template") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProviderError(f"template {source} is not UTF-8 text (invalid byte at offset "
                            f"{exc.start})", resource=rid,
                            hint="save the template as UTF-8") from None


def _secret_texts(value: Any) -> list[str]:
    """The text of every sensitive value inside ``value`` (to mask in errors)."""
    if isinstance(value, Sensitive):
        return [str(reveal(value))]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _secret_texts(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _secret_texts(v)]
    return []


class TemplateHandler(ContentFileHandler):
    """``local:template``."""

    shows_text = True

    spec = KindSpec(
        name="template", cheap=True, schema=TemplateProps,
        description="A file rendered from a Jinja2 template (StrictUndefined), written "
                    "atomically.",
        replace_on=frozenset({"path"}), import_id="the rendered file's absolute path",
        attributes={"path": "the path", "type": "what is at the path",
                    "sha256": "sha256 of the rendered bytes (hmac digest if any var is "
                              "sensitive)",
                    "mode": "permission bits", "size": "size in bytes"},
        read_fields=frozenset({"source"}),
        update_changes=frozenset({"sha256", "mode", "size"}),
    )

    def keyed(self, props: Mapping[str, Any]) -> bool:
        """Secret when any variable (or the template itself) is sensitive."""
        return contains_sensitive(props.get("vars")) or contains_sensitive(props.get("template"))

    def _text(self, props: Mapping[str, Any], rid: ResourceId) -> tuple[str, str]:
        """The template text and its origin (``template`` or the source path)."""
        inline = props.get("template")
        if inline is not None:
            return str(reveal(inline)), "template"
        source = resolved_source(props.get("source"), rid=rid)
        return read_template(source, rid=rid), source

    def _rendered(self, props: Mapping[str, Any], rid: ResourceId) -> bytes:
        text, origin = self._text(props, rid)
        secrets = [*_secret_texts(props.get("vars")), *_secret_texts(props.get("template"))]
        return render_template(text, reveal(props.get("vars") or {}), rid=rid,
                               origin=origin, secrets=secrets).encode()

    def wanted_digest(self, props: Mapping[str, Any], rid: ResourceId) -> Any:
        """Render now and digest; unknown until referenced values are known."""
        if contains_unknown(props.get("vars")) or contains_unknown(props.get("template")):
            return UNKNOWN
        return content_digest(self._rendered(props, rid), keyed=self.keyed(props))

    def render(self, props: Any, rid: ResourceId) -> bytes:
        """The bytes to write (from the validated model, secrets revealed)."""
        return self._rendered(props.model_dump(), rid)


HANDLERS: dict[str, KindHandler] = {"template": TemplateHandler()}
