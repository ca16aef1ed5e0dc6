"""local provider kind ``env_file``: a KEY=VALUE file, mode 0600 by default.

I/O: reads and atomically writes one file. State never holds a value:
attributes keep one keyed digest per key. A plan names the keys that changed
(``values.DB_PASSWORD``); it shows old and new in clear only for keys whose
configured value is not a secret, reading the old one from the file. The format is the
common subset of systemd ``EnvironmentFile``, docker ``--env-file`` and
POSIX sh: plain values bare, anything else double-quoted with escapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftless.model import (
    UNKNOWN,
    Action,
    Change,
    FieldDiff,
    LiveResource,
    Resource,
    ResourceId,
    Unknown,
    contains_sensitive,
    contains_unknown,
    reveal,
    sensitive_digest,
)
from driftless.providers.base import KindHandler, KindSpec
from driftless.providers.local._atomic import format_mode
from driftless.providers.local._host import StatLike
from driftless.providers.local._paths import AbsPath
from driftless.providers.local.files import MODE_PATTERN, ContentFileHandler, quick_diff

__all__ = ["HANDLERS", "format_env", "parse_env"]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BARE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "`": "\\`", "\n": "\\n"}
_UNESCAPES = {"\\": "\\", '"': '"', "$": "$", "`": "`", "n": "\n"}

EnvValue = str | int | float | bool


class EnvFileProps(BaseModel):
    """Properties of ``local:env_file``."""

    model_config = ConfigDict(extra="forbid")
    path: AbsPath = Field(description="where the file is written (absolute)")
    values: dict[str, EnvValue] = Field(description="KEY → value (values may be sensitive)")
    mode: str = Field("0600", pattern=MODE_PATTERN, description="octal, default 0600")
    owner: str | int | None = Field(None, description="user name or uid")
    group: str | int | None = Field(None, description="group name or gid")
    make_parents: bool = Field(False, description="create missing parent directories")

    @field_validator("values")
    @classmethod
    def _keys(cls, values: dict[str, EnvValue]) -> dict[str, EnvValue]:
        bad = [k for k in values if not _KEY.match(k)]
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(bad)} "
                             "(letters, digits and _, not starting with a digit)")
        return values


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def format_env(values: Mapping[str, Any]) -> str:
    """``KEY=value`` lines; values quoted and escaped unless plainly safe."""
    lines = []
    for key, raw in values.items():
        value = _env_str(raw)
        if not _BARE.match(value):
            value = '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'
        lines.append(f"{key}={value}\n")
    return "".join(lines)


def parse_env(text: str) -> dict[str, str]:
    """Inverse of ``format_env``; tolerant of comments, ``export`` and quotes.

    A line that is not ``KEY=VALUE`` is kept under ``(line N)`` so a hand
    edit that broke the file still shows as drift.
    """
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.removeprefix("export ").partition("=")
        if not sep or not _KEY.match(key.strip()):
            out[f"(line {n})"] = stripped
            continue
        out[key.strip()] = _unquote(value.strip())
    return out


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if not (len(value) >= 2 and value[0] == value[-1] == '"'):
        return value
    body, out, i = value[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_UNESCAPES.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _digests(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: UNKNOWN if contains_unknown(v) else sensitive_digest(_env_str(reveal(v)))
            for k, v in values.items()}


class EnvFileHandler(ContentFileHandler):
    """``local:env_file``."""

    default_mode = 0o600
    spec = KindSpec(
        name="env_file", cheap=True, schema=EnvFileProps,
        description="A KEY=VALUE environment file, mode 0600, written atomically; plans name "
                    "changed keys, never values.",
        replace_on=frozenset({"path"}), import_id="the file's absolute path",
        attributes={"path": "the path", "type": "what is at the path",
                    "mode": "permission bits", "keys": "KEY → keyed digest of its value"},
        update_changes=frozenset({"mode", "keys"}),
    )

    def keyed(self, props: Mapping[str, Any]) -> bool:
        """Every value of an env file is treated as secret."""
        return True

    def render(self, props: Any, rid: ResourceId) -> bytes:
        """The file's bytes."""
        return format_env(props.values).encode()

    def observe(self, rid: ResourceId, path: str, st: StatLike, *, keyed: bool,
                props: Mapping[str, Any], prior: LiveResource | None) -> LiveResource:
        """Parse the file into per-key digests."""
        live = super().observe(rid, path, st, keyed=keyed, props=props, prior=prior)
        attrs = {k: v for k, v in live.attributes.items() if k not in ("sha256", "size")}
        attrs["keys"] = None
        if attrs["type"] == "file":
            attrs["keys"] = _digests(parse_env(self._read_text(path, rid)))
        return LiveResource(rid, attrs, live.private)

    def _read_text(self, path: str, rid: ResourceId) -> str:
        text = self.host.read_bytes(path).decode("utf-8", errors="replace")
        return text.replace("\r\n", "\n").replace("\r", "\n")  # as open() in text mode

    def diff(self, desired: Resource, live: LiveResource | None) -> Change:
        """Changed keys as ``values.KEY`` (secret ones shown as sensitive), plus mode."""
        if live is None:
            return Change(desired.id, Action.CREATE, desired, None, reason="does not exist yet")
        props = desired.properties
        wanted = {"path": props["path"], "type": "file",
                  "mode": format_mode(int(str(props.get("mode", "0600")), 8))}
        base = quick_diff(desired, live, wanted, replace_on=self.spec.replace_on)
        values = props.get("values", {})
        keys = _key_diffs(_digests(values), live.attributes.get("keys") or {})
        if not keys:
            return base
        keys = self._in_clear(keys, values, props["path"], desired.id)
        diffs = base.diffs + keys
        names = ", ".join(d.path for d in keys)
        action = Action.REPLACE if base.action is Action.REPLACE else Action.UPDATE
        return Change(desired.id, action, desired, live, diffs, reason=f"{names} changed")


    def _in_clear(self, keys: tuple[FieldDiff, ...], values: Mapping[str, Any], path: str,
                  rid: ResourceId) -> tuple[FieldDiff, ...]:
        """A key whose configured value is not a secret is shown in clear, old and new
        (the old one read from the file now); secret, unknown and removed keys stay
        digests shown as ``(sensitive)``."""
        plain = {d.path[len("values."):] for d in keys
                 if _plain(values.get(d.path[len("values."):]))}
        if not plain:
            return keys
        try:
            on_disk = parse_env(self._read_text(path, rid))
        except OSError:
            on_disk = {}
        return tuple(
            FieldDiff(d.path, on_disk.get(name), _env_str(values[name]))
            if (name := d.path[len("values."):]) in plain else d
            for d in keys)


def _plain(value: Any) -> bool:
    """A configured value that may be shown: known, and no secret inside."""
    return value is not None and not contains_sensitive(value) and not contains_unknown(value)


def _key_diffs(want: Mapping[str, Any], have: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    moved = sorted(k for k in set(want) | set(have)
                   if want.get(k) != have.get(k) or isinstance(want.get(k), Unknown))
    return tuple(FieldDiff(f"values.{k}", have.get(k), want.get(k), True) for k in moved)


HANDLERS: dict[str, KindHandler] = {"env_file": EnvFileHandler()}
