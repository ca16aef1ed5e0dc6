"""local provider kind ``template``: a file rendered from a Jinja2 template.

I/O: reads the template ``source`` file (when given) and writes the result
atomically through ``ContentFileHandler``. Rendering uses StrictUndefined,
so a missing variable is an error naming it, never an empty string. When
any variable is sensitive the content digest is keyed and the plan shows
the content only as ``(sensitive)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftless.errors import ProviderError
from driftless.model import UNKNOWN, ResourceId, contains_sensitive, contains_unknown, reveal
from driftless.providers.base import KindHandler, KindSpec
from driftless.providers.local._atomic import content_digest, os_error
from driftless.providers.local.files import MODE_PATTERN, ContentFileHandler

__all__ = ["HANDLERS", "render_template"]


class TemplateProps(BaseModel):
    """Properties of ``local:template``."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="where the rendered file is written")
    template: str | None = Field(None, description="the Jinja2 template text, inline")
    source: str | None = Field(None, description="a local file holding the template")
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


def render_template(text: str, variables: Mapping[str, Any], *, rid: ResourceId,
                    origin: str = "template") -> str:
    """Render ``text`` with StrictUndefined; errors name the variable or line."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    try:
        return env.from_string(text).render(**variables)
    except jinja2.UndefinedError as exc:
        raise ProviderError(f"{origin}: undefined variable: {exc.message}", resource=rid,
                            hint="add it to vars, or guard it with {% if x is defined %}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise ProviderError(f"{origin}:{exc.lineno}: template syntax error: {exc.message}",
                            resource=rid, hint="fix the template") from None
    except jinja2.TemplateError as exc:
        raise ProviderError(f"{origin}: template error: {exc}", resource=rid) from None


class TemplateHandler(ContentFileHandler):
    """``local:template``."""

    spec = KindSpec(
        name="template", cheap=True, schema=TemplateProps,
        description="A file rendered from a Jinja2 template (StrictUndefined), written "
                    "atomically.",
        replace_on=frozenset({"path"}), import_id="the rendered file's absolute path",
        attributes={"path": "the path", "type": "what is at the path",
                    "sha256": "sha256 of the rendered bytes (hmac digest if any var is "
                              "sensitive)",
                    "mode": "permission bits", "size": "size in bytes"},
    )

    def keyed(self, props: Mapping[str, Any]) -> bool:
        """Secret when any variable (or the template itself) is sensitive."""
        return contains_sensitive(props.get("vars")) or contains_sensitive(props.get("template"))

    def _text(self, props: Mapping[str, Any], rid: ResourceId) -> tuple[str, str]:
        inline = props.get("template")
        if inline is not None:
            return str(reveal(inline)), "template"
        source = str(props.get("source"))
        try:
            with open(source, encoding="utf-8") as fh:
                return fh.read(), source
        except OSError as exc:
            raise os_error(exc, path=source, rid=rid, doing="read template") from None

    def _rendered(self, props: Mapping[str, Any], rid: ResourceId) -> bytes:
        text, origin = self._text(props, rid)
        return render_template(text, reveal(props.get("vars") or {}), rid=rid,
                               origin=origin).encode()

    def wanted_digest(self, props: Mapping[str, Any], rid: ResourceId) -> Any:
        """Render now and digest; unknown until referenced values are known."""
        if contains_unknown(props.get("vars")) or contains_unknown(props.get("template")):
            return UNKNOWN
        return content_digest(self._rendered(props, rid), keyed=self.keyed(props))

    def render(self, props: Any, rid: ResourceId) -> bytes:
        """The bytes to write (from the validated model, secrets revealed)."""
        return self._rendered(props.model_dump(), rid)


HANDLERS: dict[str, KindHandler] = {"template": TemplateHandler()}
