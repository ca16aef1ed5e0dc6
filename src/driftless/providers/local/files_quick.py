"""Pydantic-free checks of the plain cases of ``local:file``, ``local:directory``
and ``local:symlink`` properties.

A stack of ten thousand files validates ten thousand property sets, and
importing pydantic with the models costs ~0.1 s of a process that otherwise
needs ~0.3 s. Almost every real property set is plain: exact ``str``
paths, ``str`` content, ``bool`` flags. Each function here returns a view
with the model's attributes when the properties are *certainly* valid, and
None in every other case: then the pydantic model (``files_schema``) decides
and writes the messages. It never rejects, so it can never disagree with the
schema on an error; tests/providers/test_files_quick.py checks with
hypothesis that whatever it accepts the model accepts with the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["DirectoryView", "FileView", "SymlinkView", "directory_props", "file_props",
           "symlink_props"]

_OCTAL = frozenset("01234567")
_view = tuple.__new__  # a named tuple from its values in field order, without a call of ours


class FileView(NamedTuple):
    """``FileProps``' attributes, for properties known to be valid."""

    path: str
    content: str | None = None
    source: str | None = None
    mode: str | None = None
    owner: str | int | None = None
    group: str | int | None = None
    make_parents: bool = False


class DirectoryView(NamedTuple):
    """``DirectoryProps``' attributes, for properties known to be valid."""

    path: str
    mode: str | None = None
    owner: str | int | None = None
    group: str | int | None = None
    purge: bool = False
    make_parents: bool = False


class SymlinkView(NamedTuple):
    """``SymlinkProps``' attributes, for properties known to be valid."""

    path: str
    target: str
    make_parents: bool = False


_FILE = frozenset(FileView._fields)
_DIRECTORY = frozenset(DirectoryView._fields)
_SYMLINK = frozenset(SymlinkView._fields)


def file_props(props: Mapping[str, Any]) -> FileView | None:
    """A ``FileView`` of ``props`` (revealed), or None when the schema must judge.

    Written out, with the view made from its values in order: it runs once per
    file of a stack, and ``FileView(**props)`` alone was a third of it."""
    if not _FILE.issuperset(props):
        return None
    get = props.get
    path, content, source = get("path"), get("content"), get("source")
    if not _abs_path(path) or not (_optional_str(content) and _optional_str(source)):
        return None
    if content is not None and source is not None:
        return None
    mode, owner, group = get("mode"), get("owner"), get("group")
    parents = get("make_parents", False)
    if not _common(mode, owner, group, parents):
        return None
    return _view(FileView, (path, content, source, mode, owner, group, parents))


def directory_props(props: Mapping[str, Any]) -> DirectoryView | None:
    """A ``DirectoryView`` of ``props`` (revealed), or None when the schema must judge."""
    if not _DIRECTORY.issuperset(props) or not _abs_path(props.get("path")):
        return None
    get = props.get
    if type(get("purge", False)) is not bool or not _common(
            get("mode"), get("owner"), get("group"), get("make_parents", False)):
        return None
    return DirectoryView(**props)


def symlink_props(props: Mapping[str, Any]) -> SymlinkView | None:
    """A ``SymlinkView`` of ``props`` (revealed), or None when the schema must judge."""
    if not _SYMLINK.issuperset(props) or not _abs_path(props.get("path")):
        return None
    target = props.get("target")
    if type(target) is not str or "\0" in target:
        return None
    if type(props.get("make_parents", False)) is not bool:
        return None
    return SymlinkView(**props)


def _common(mode: Any, owner: Any, group: Any, make_parents: Any) -> bool:
    """mode, owner, group and make_parents (absent: None, None, None, False), each of
    the plain form."""
    return (_mode(mode) and _owner(owner) and _owner(group)
            and type(make_parents) is bool)


def _abs_path(value: Any) -> bool:
    """An exact str, absolute and NUL-free (``AbsPath``)."""
    return type(value) is str and value.startswith("/") and "\0" not in value


def _optional_str(value: Any) -> bool:
    return value is None or type(value) is str


def _mode(value: Any) -> bool:
    """None, or a str matching ``MODE_PATTERN`` (``^0?[0-7]{3,4}$``) exactly."""
    if value is None:
        return True
    if type(value) is not str or not 3 <= len(value) <= 5 or not _OCTAL.issuperset(value):
        return False
    return len(value) < 5 or value[0] == "0"


def _owner(value: Any) -> bool:
    """None, an exact str or an exact int (a bool is left to the schema)."""
    return value is None or type(value) is str or type(value) is int
