"""Resource addresses: the names users see in plans, state and errors."""

from __future__ import annotations

import json
import re
from typing import NamedTuple

__all__ = ["ResourceId", "quote_key"]

_ADDRESS = re.compile(
    r"^(?P<provider>[a-z][a-z0-9_-]*):(?P<kind>[A-Za-z][A-Za-z0-9_.]*)/"
    r"(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r'(?:\[(?:(?P<num>\d+)|(?P<key>"(?:[^"\\]|\\.)*"))\])?$'
)
_PLAIN_KEY = re.compile(r'^[^"\\\x00-\x1f\x7f]*$')


def quote_key(key: str) -> str:
    """A for_each key as written in an address: in double quotes, with quotes,
    backslashes and control characters escaped as in JSON, so every key gives
    exactly one address and the address parses back to the same key."""
    if _PLAIN_KEY.match(key):
        return f'"{key}"'
    return json.dumps(key, ensure_ascii=False)


class ResourceId(NamedTuple):
    """``provider:kind/name`` plus an index for ``count`` or key for ``for_each``.

    A named tuple rather than a dataclass: ids are hashed and compared
    millions of times in a large plan, and tuple hashing runs in C.
    """

    provider: str
    kind: str
    name: str
    index: int | str | None = None  # type: ignore[assignment]

    @property
    def type(self) -> str:
        """``provider:kind``, the key of a provider's kind table."""
        return f"{self.provider}:{self.kind}"

    def __str__(self) -> str:
        base = f"{self.provider}:{self.kind}/{self.name}"
        if self.index is None:
            return base
        if isinstance(self.index, int):
            return f"{base}[{self.index}]"
        return f"{base}[{quote_key(self.index)}]"

    @classmethod
    def trusted(cls, address: str) -> ResourceId:
        """Parse an address driftless itself wrote (state rows): a fast path
        for the plain ``provider:kind/name`` form, the full parser otherwise."""
        head, sep, name = address.partition("/")
        if sep:
            provider, colon, kind = head.partition(":")
            if colon and "[" not in name:
                return cls(provider, kind, name)
            base, _, index = name.partition("[")
            number = index[:-1]
            # count.index: canonical digits only ("[07]" is left to the parser)
            if colon and index.endswith("]") and number.isascii() and number.isdigit() \
                    and (number == "0" or number[0] != "0") and "[" not in number:
                return cls(provider, kind, base, int(number))
        return cls.parse(address)

    @classmethod
    def parse(cls, address: str) -> ResourceId:
        """Parse ``aws:s3.Bucket/models`` or ``local:file/conf[2]``."""
        m = _ADDRESS.match(address.strip())
        if m is not None and m.group("key") is not None:
            try:
                json.loads(m.group("key"))
            except ValueError:
                m = None
        if m is None:
            raise ValueError(
                f"'{address}' is not a resource address (expected provider:kind/name, "
                "e.g. local:file/motd or aws:ec2.Instance/worker[0])"
            )
        index: int | str | None = None
        if m.group("num") is not None:
            index = int(m.group("num"))
        elif m.group("key") is not None:
            index = json.loads(m.group("key"))
        return cls(m.group("provider"), m.group("kind"), m.group("name"), index)
