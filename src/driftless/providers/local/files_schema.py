"""The pydantic models of ``local:file``, ``local:directory`` and ``local:symlink``.

Kept apart from the handlers (``files``, ``files_paths``) and named in their
specs by path, so a plan that validates nothing (every resource unchanged
since it was applied) never imports pydantic; see ``KindSpec.model``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftless.providers.local._paths import AbsPath, LinkTarget
from driftless.providers.local.files_paths import MODE_PATTERN

__all__ = ["DirectoryProps", "FileProps", "SymlinkProps"]


class FileProps(BaseModel):
    """Properties of ``local:file``."""

    model_config = ConfigDict(extra="forbid")
    path: AbsPath = Field(description="absolute path of the file")
    content: str | None = Field(None, description="the file's text (may be sensitive)")
    source: str | None = Field(None, description="a file in the repository whose bytes to "
                               "copy (relative to the stack directory)")
    mode: str | None = Field(None, pattern=MODE_PATTERN, description='octal, e.g. "0644"')
    owner: str | int | None = Field(None, description="user name or uid (needs privileges)")
    group: str | int | None = Field(None, description="group name or gid")
    make_parents: bool = Field(False, description="create missing parent directories")

    @model_validator(mode="after")
    def _one_source(self) -> FileProps:
        if self.content is not None and self.source is not None:
            raise ValueError("give either content or source, not both")
        return self


class DirectoryProps(BaseModel):
    """Properties of ``local:directory``."""

    model_config = ConfigDict(extra="forbid")
    path: AbsPath = Field(description="absolute path of the directory")
    mode: str | None = Field(None, pattern=MODE_PATTERN, description='octal, e.g. "0755"')
    owner: str | int | None = Field(None, description="user name or uid")
    group: str | int | None = Field(None, description="group name or gid")
    purge: bool = Field(False, description="on delete, remove the contents too")
    make_parents: bool = Field(False, description="create missing parent directories")


class SymlinkProps(BaseModel):
    """Properties of ``local:symlink``."""

    model_config = ConfigDict(extra="forbid")
    path: AbsPath = Field(description="where the link lives (absolute)")
    target: LinkTarget = Field(description="what the link points to (need not exist; "
                                           "relative to the link's directory)")
    make_parents: bool = Field(False, description="create missing parent directories")
