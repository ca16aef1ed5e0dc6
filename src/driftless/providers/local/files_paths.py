"""local provider kinds ``directory`` and ``symlink``, and what every path-named
kind shares: ``PathHandler`` (imports take the path), ``path_spec`` and the
mode pattern and normalisation.

I/O: the local filesystem (lstat, readlink, mkdir, chmod/chown, symlink and
rename, rmdir/rmtree, unlink). ``files`` holds ``file`` and the kind table,
and re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from driftless.errors import ProviderError
from driftless.model import Action, Change, LiveResource, Resource
from driftless.providers.base import KindHandler, KindSpec, SchemaRef
from driftless.providers.local._atomic import (
    format_mode,
    kind_of,
    os_error,
    parse_mode,
    quick_diff,
    wanted_owner,
)
from driftless.providers.local._host import LOCAL, Host

__all__ = [
    "MODE_PATTERN", "DirectoryHandler", "PathHandler", "SymlinkHandler", "norm_mode",
    "path_spec",
]


MODE_PATTERN = r"^0?[0-7]{3,4}$"

SCHEMAS = "driftless.providers.local.files_schema"
"""Where the path kinds' pydantic models live, imported only to validate or act."""

_QUICK = "driftless.providers.local.files_quick"
QUICK_CHECKS = {f"{SCHEMAS}:FileProps": f"{_QUICK}:file_props",
                f"{SCHEMAS}:DirectoryProps": f"{_QUICK}:directory_props",
                f"{SCHEMAS}:SymlinkProps": f"{_QUICK}:symlink_props"}
"""The pydantic-free check (``KindSpec.quick``) of each model that has one."""


def norm_mode(mode: Any) -> Any:
    """A three-digit mode with its leading zero ("644" is "0644"), so modes compare equal."""
    if isinstance(mode, str) and len(mode) == 3:
        return "0" + mode
    return mode


def path_spec(name: str, schema: SchemaRef, description: str, *, what: str,
              attributes: Mapping[str, str],
              read_fields: frozenset[str] = frozenset()) -> KindSpec:
    """The spec of a cheap kind named by its path: a new path replaces it.

    ``what`` names the object in the import id ("file", "directory", ...);
    ``attributes`` follow ``path`` and ``type`` (and may describe ``type`` better);
    ``read_fields`` name repository files read at plan time (``KindSpec``).
    """
    return KindSpec(
        name=name, cheap=True, schema=schema, description=description,
        replace_on=frozenset({"path"}), import_id=f"the {what}'s absolute path",
        attributes={"path": "the path", "type": "what is at the path", **attributes},
        read_fields=read_fields,
        update_changes=frozenset(attributes) - {"type"},  # a path keeps its object's type
        quick=QUICK_CHECKS.get(schema, "") if isinstance(schema, str) else "",
    )


class PathHandler(KindHandler):
    """A kind whose object is named by its ``path``: imports take the path.

    ``host`` is the machine it acts on (``_host``): this one, unless the ssh
    provider gave the handler a remote host.
    """

    host: Host = LOCAL

    def import_resource(self, resource: Resource, import_id: str) -> LiveResource | None:
        """Read the object at ``import_id`` (a path)."""
        props = dict(resource.properties)
        props["path"] = import_id
        return self.read(replace(resource, properties=props), None)

    def cleanup(self, resource: Resource) -> list[str]:
        """Remove temp files a killed writer of this path left beside it."""
        return self.host.remove_stray_temps(resource.properties.get("path"))


class DirectoryHandler(PathHandler):
    """``local:directory``: exists with a mode; contents removed only with purge."""

    spec = path_spec(
        "directory", f"{SCHEMAS}:DirectoryProps",
        "A directory with a mode; delete removes it only if empty, unless purge.",
        what="directory",
        attributes={"mode": "permission bits", "purge": "whether delete removes contents"},
    )

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """Stat the directory."""
        props = resource.properties
        st = self.host.lstat_or_none(props["path"], resource.id)
        if st is None:
            return None
        attrs = {"path": props["path"], "type": kind_of(st), "mode": format_mode(st.st_mode),
                 "purge": bool(props.get("purge", False)), **self.host.owner_attrs(props, st)}
        return LiveResource(resource.id, attrs)

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Compare type, mode, owner and the purge flag."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, reason="does not exist yet")
        props = desired.properties
        wanted: dict[str, Any] = {"path": props["path"], "type": "directory",
                                  "purge": bool(props.get("purge", False))}
        if props.get("mode") is not None:
            wanted["mode"] = norm_mode(props["mode"])
        wanted.update(wanted_owner(props))
        return quick_diff(desired, live, wanted, replace_on=self.spec.replace_on)

    def create(self, change: Change) -> LiveResource:
        """mkdir (or fix the mode of an existing directory)."""
        assert change.desired is not None
        props = self.parse(change.desired)
        rid = change.desired.id
        host = self.host
        host.ensure_parent(props.path, make_parents=props.make_parents, rid=rid)
        try:
            if not host.isdir(props.path):
                host.mkdir(props.path)
            host.chmod(props.path, parse_mode(props.mode, default=0o755))
            owner = host.owner_ids(props.owner, props.group, rid)
            if owner is not None:
                host.chown(props.path, owner[0], owner[1])
        except OSError as exc:
            raise os_error(exc, path=props.path, rid=rid, doing="create directory") from None
        live = self.read(change.desired, None)
        assert live is not None
        return live

    def update(self, change: Change) -> LiveResource:
        """Same as create: mkdir is skipped when it exists."""
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """rmdir; with purge, remove the whole tree."""
        path = str(prior.attributes.get("path"))
        try:
            if prior.attributes.get("purge"):
                self.host.rmtree(path)
            else:
                self.host.rmdir(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            if isinstance(exc, OSError) and exc.errno == 39:  # ENOTEMPTY
                raise ProviderError(
                    f"directory {path} is not empty; it holds files driftless does not own",
                    resource=prior.id, hint="empty it, or set purge: true to remove its contents",
                ) from None
            raise os_error(exc, path=path, rid=prior.id, doing="delete") from None


class SymlinkHandler(PathHandler):
    """``local:symlink``: a link at path pointing at target, swapped atomically."""

    spec = path_spec("symlink", f"{SCHEMAS}:SymlinkProps",
                     "A symbolic link; retargeting swaps it atomically.",
                     what="link", attributes={"target": "link target"})

    def read(self, resource: Resource, prior: LiveResource | None) -> LiveResource | None:
        """lstat + readlink."""
        path = resource.properties["path"]
        st = self.host.lstat_or_none(path, resource.id)
        if st is None:
            return None
        kind = kind_of(st)
        target = self.host.readlink(path) if kind == "symlink" else None
        return LiveResource(resource.id, {"path": path, "type": kind, "target": target})

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Compare the target."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, reason="does not exist yet")
        props = desired.properties
        wanted = {"path": props["path"], "type": "symlink", "target": props["target"]}
        return quick_diff(desired, live, wanted, replace_on=self.spec.replace_on)

    def create(self, change: Change) -> LiveResource:
        """Make the link under a temp name, then rename it over the path."""
        assert change.desired is not None
        props = self.parse(change.desired)
        rid = change.desired.id
        self.host.ensure_parent(props.path, make_parents=props.make_parents, rid=rid)
        try:
            self.host.symlink_swap(props.target, props.path)
        except OSError as exc:
            raise os_error(exc, path=props.path, rid=rid, doing="create symlink") from None
        return LiveResource(rid, {"path": props.path, "type": "symlink", "target": props.target})

    def update(self, change: Change) -> LiveResource:
        """Retarget atomically."""
        return self.create(change)

    def delete(self, prior: LiveResource) -> None:
        """Remove the link, only if it is still a link."""
        path = str(prior.attributes.get("path"))
        if self.host.islink(path):
            try:
                self.host.remove_quietly(path)
            except OSError as exc:
                raise os_error(exc, path=path, rid=prior.id, doing="delete") from None
