"""The render cache: an unchanged repository is not parsed or evaluated again.

``RenderCache.load_project`` and ``RenderCache.render_stack`` do what
``load_project`` and ``render_stack`` do, and keep the result in
``<project>/.driftless/cache/`` (beside the default state). An entry is
found by a keyed digest of what the caller passes (project, stack,
environment, ``--var`` values, ``--var-file`` names, the operator's
``Policy``, upstream stacks' outputs, the driftless version) and holds the
checks of every other input the render consulted (``inputs``): the digest
of each file read, each existence probe, symlink resolution and listing,
and the ``DRIFTLESS_VAR_*`` variables. It is used only when every check
still holds, so invalidation is exact; otherwise the stack is rendered
again and the entry replaced.

Trust: the project directory is the repository's, so an entry is sealed
with an HMAC under the operator's digest key (``model.digest_key``) and
checked before anything in it is decoded (a small head holding the checks
and the body's seal, then the body, only when the checks hold); a planted
or truncated file is ignored. Entries are ``marshal``-ed plain tuples
(``cache_codec``), written to a temp file and renamed, by a forked child
when the process can fork (``model.background``: encoding and writing a
10,000-file stack is ~45 ms the command need not wait for; a lookup waits
for a write of its entry still under way). A render holding a
secret, or using a secret reference or a SOPS file, is not stored at all,
so no secret ever reaches the cache. A value waiting on another resource
is stored as its expression and what its scope held (``cache_codec``). Any
failure to read or write the cache only costs a render. I/O: reads and
writes files in the cache directory (writes through a forked child when it
can); reads what the recorded checks name.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import marshal
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from driftless.errors import ConfigError, Problem
from driftless.model import DesiredStack
from driftless.model.background import Answer, run_detached, run_detached_answering, wait
from driftless.model.digest_key import current_key
from driftless.model.filemap import mapped, write_private
from driftless.model.gcpause import gc_paused as _gc_paused
from driftless.model.policy import Policy
from driftless.render.cache_codec import (
    decode_project,
    decode_stack,
    encode_project,
    encode_stack,
)
from driftless.render.digest import canonical
from driftless.render.inputs import Inputs, recording
from driftless.render.options import KindLookup, RenderOptions
from driftless.render.project import Project, find_project

__all__ = ["CACHE_DIR", "DISABLE_ENV", "MAX_ENTRIES", "RenderCache"]

CACHE_DIR = Path(".driftless") / "cache"
DISABLE_ENV = "DRIFTLESS_RENDER_CACHE"  # "off" (or 0/no/false) renders every time
FORMAT = 2  # 2: checks in a head sealed apart from the body
_MAGIC = b"driftless-render-cache\0"
_TAG = 32
_SIZE = 8  # the head's length, big-endian
_MOST = 1 << 30
# entries kept (one per project, and per stack and set of options): each new
# --var value makes another, so the oldest go once there are more than this
MAX_ENTRIES = 64


class RenderCache:
    """Renders kept in ``directory``, sealed with ``key``."""

    def __init__(self, directory: Path, *, key: bytes) -> None:
        self.directory = directory
        self._key = hmac.new(key, b"driftless/render-cache", hashlib.sha256).digest()
        # entries to write (see ``_flush``): what the render read, and how to encode
        # what it made (encoded only by the write, ``_entry``)
        self._pending: dict[str, tuple[Inputs, Callable[[], Any]]] = {}

    @classmethod
    def for_project(cls, start: Path | None = None, *,
                    environ: Mapping[str, str] | None = None) -> RenderCache | None:
        """The cache of the project found from ``start``; None when the operator turned
        it off or its directory is not a plain directory of the project (a symlink)."""
        environ = os.environ if environ is None else environ
        if environ.get(DISABLE_ENV, "").strip().lower() in ("0", "off", "no", "false"):
            return None
        root = find_project(start)
        try:
            key = current_key().secret
        except ConfigError:  # no usable digest key: render as without a cache
            return None
        return cls(root / CACHE_DIR, key=key)

    # -- the two entry points ---------------------------------------------------
    def load_project(self, directory: Path | None = None, *,
                     policy: Policy | None = None) -> Project:
        """``load_project``, from the cache when nothing it read has changed."""
        root = find_project(directory)
        policy = policy or Policy.from_environ(os.environ)
        name = self._name("project", str(root), repr(policy))
        found = self._lookup(name, os.environ)
        if found is not None:
            with contextlib.suppress(Exception):
                return decode_project(found, policy)
        from driftless.render.project import load_project  # parses YAML: a miss only

        with recording(self._key) as inputs:
            project = load_project(root, policy=policy)
        self._store(name, inputs, lambda: encode_project(project))
        return project

    def render_stack(self, project: Project, name: str, options: RenderOptions, *,
                     stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
                     kinds: KindLookup | None = None) -> DesiredStack:
        """``render_stack``, from the cache when no input has changed."""
        entry = self._name("stack", *_stack_key(project, name, options, stack_outputs, kinds))
        with _gc_paused():  # many new small objects: generation scans would dominate
            found = self._lookup(entry, options.environment())
            stack = None if found is None else _decoded(found, project, options, kinds)
        if stack is not None:
            return stack
        from driftless.render.stack import render_stack  # the evaluator: a miss only

        reported: list[Problem] = []
        if options.on_missing_secret is not None:
            options = replace(options, on_missing_secret=_tee(options.on_missing_secret,
                                                              reported))
        with recording(self._key) as inputs:
            stack = render_stack(project, name, options, stack_outputs=stack_outputs,
                                 kinds=kinds)
        if reported:
            inputs.why_not = "a secret was missing"
        self._store(entry, inputs, lambda: (encode_stack(stack, inputs.deferred),
                                            _kind_marks(stack, kinds)))
        return self._flush(stack)

    # -- entries ------------------------------------------------------------------
    def _name(self, *parts: Any) -> str:
        """The entry's file name: a keyed digest of the caller's inputs."""
        from driftless import __version__

        text = json.dumps([FORMAT, __version__, *parts], sort_keys=True, default=repr)
        return hmac.new(self._key, text.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()[:40] + ".bin"

    def _lookup(self, name: str, environ: Mapping[str, str]) -> Any:
        """The stored body when the entry exists, is sealed by us and its checks hold.

        The checks are read first, from the entry's small sealed head: a changed
        input costs neither sealing nor decoding the body (~10 MB for 10,000 files).
        """
        wait([str(self.directory / name)])  # a write of it still under way: ours to see
        with mapped(self.directory / name, most=_MOST) as data:
            head = None if data is None else self._head(data)
            if data is None or head is None:
                return None
            version, checks, body_tag, start = head
            if version != FORMAT or not Inputs(self._key).still_hold(checks, environ):
                return None
            return self._body(data, start, body_tag)

    def _head(self, data: memoryview) -> tuple[Any, Any, bytes, int] | None:
        """The head's (format, checks, the body's seal) and where the body starts;
        None when the entry is not ours or is damaged."""
        fixed = len(_MAGIC) + _TAG + _SIZE
        if len(data) < fixed or data[:len(_MAGIC)] != _MAGIC:
            return None
        size = int.from_bytes(data[fixed - _SIZE:fixed], "big")
        if size > len(data) - fixed:
            return None
        tag = bytes(data[len(_MAGIC):len(_MAGIC) + _TAG])
        if not hmac.compare_digest(tag, self._seal(b"head", data[fixed - _SIZE:fixed + size])):
            return None
        try:
            version, checks, body_tag = marshal.loads(data[fixed:fixed + size])
        except (EOFError, ValueError, TypeError):
            return None
        if not isinstance(body_tag, bytes):
            return None
        return version, checks, body_tag, fixed + size

    def _body(self, data: memoryview, start: int, tag: bytes) -> Any:
        """The body from ``start``, when it is the one the head sealed."""
        if not hmac.compare_digest(tag, self._seal(b"body", data[start:])):
            return None
        try:
            return marshal.loads(data[start:])
        except (EOFError, ValueError, TypeError):
            return None

    def _seal(self, part: bytes, payload: bytes | memoryview) -> bytes:
        seal = hmac.new(self._key, _MAGIC + part, hashlib.sha256)
        seal.update(payload)  # as one message with the magic, without joining them
        return seal.digest()

    def _store(self, name: str, inputs: Inputs, body: Callable[[], Any]) -> None:
        """Keep the entry for ``_flush``, unless the render must not be kept; ``body``
        gives what to store, encoded only when the entry is written (``_entry``)."""
        if inputs.why_not is None:
            self._pending[name] = (inputs, body)

    def _flush(self, stack: DesiredStack) -> DesiredStack:
        """Write the kept entries: only once a stack rendered, so a project whose
        renders fail leaves no cache directory behind (``validate`` and a failing
        ``plan`` create nothing). Encoding, sealing and writing a 10,000-file stack
        (~45 ms) is done by a forked child when it can be (``model.background``).

        That child first works out ``stack``'s digest, which the render left to
        later (~25 ms at 10,000 files), and each resource's digest (the clean-plan
        memo's keys, ~20 ms), and hands them back: the stack returned reads them
        from there when first asked (after the lock and the state read), or works
        them out itself should the child give none (or a part of them)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return stack
        keys = [str(self.directory / entry) for entry in pending]
        later = stack.digest_of
        if not isinstance(later, str):
            answer = run_detached_answering(lambda: _answer_parts(stack),
                                            lambda: self._write(pending), keys=keys)
            if answer is not None:
                return replace(stack, digest_of=_answered(answer, later),
                               digests_of=(stack.resources, _digests_answered(answer)))
        run_detached(lambda: self._write(pending), keys=keys)
        return stack

    def _write(self, pending: Mapping[str, tuple[Inputs, Callable[[], Any]]]) -> bool:
        """Encode and write ``pending``, then prune; True when every entry was written."""
        with _gc_paused():  # a tuple or two for each resource
            try:
                written = [self._write_one(entry, *kept) for entry, kept in pending.items()]
                self._prune()
            except OSError:
                return False
        return all(written)

    def _write_one(self, entry: str, inputs: Inputs, body: Callable[[], Any]) -> bool:
        parts = self._entry(inputs, body)
        return parts is not None and write_private(
            self.directory / entry, parts, dirs=(self.directory.parent, self.directory))

    def _entry(self, inputs: Inputs, body: Callable[[], Any]) -> tuple[bytes, bytes] | None:
        """The entry's two parts, never joined in memory (a 10,000-file stack's body is
        ~10 MB): ``_MAGIC``, the head's seal, the head's size, the head (format, checks,
        the body's seal); then the body. None when the render cannot be kept."""
        try:
            payload = marshal.dumps(body())
            head = marshal.dumps((FORMAT, inputs.as_tuple(), self._seal(b"body", payload)))
        except Exception:  # a secret (Uncacheable), a deferred value: keep nothing
            return None
        sized = len(head).to_bytes(_SIZE, "big") + head
        return _MAGIC + self._seal(b"head", sized) + sized, payload

    def _prune(self) -> None:
        """Remove the least recently written entries past ``MAX_ENTRIES``."""
        entries = []
        for path in self.directory.glob("*.bin"):
            with contextlib.suppress(OSError):
                entries.append((path.lstat().st_mtime_ns, path))
        entries.sort(reverse=True)
        for _, path in entries[MAX_ENTRIES:]:
            with contextlib.suppress(OSError):
                path.unlink()


_DIGEST_TEXT = 71  # "sha256:" and 64 hex digits: the head of the child's answer


def _answer_parts(stack: DesiredStack) -> Iterator[bytes]:
    """What the render cache's child hands back: the stack's digest first (the
    command asks for it first), then its resources' digests."""
    yield stack.digest.encode()
    yield stack.resource_digests()


def _answered(answer: Answer, fallback: Callable[[], str]) -> Callable[[], str]:
    """The digest as the child handed it back; ``fallback()`` when it gave none (or
    something that is not a digest)."""
    def digest() -> str:
        got = answer.head(_DIGEST_TEXT)
        text = got.decode("ascii", "replace") if got else ""
        if len(text) == _DIGEST_TEXT and text.startswith("sha256:") \
                and _HEX.issuperset(text[7:]):
            return text
        return fallback()

    return digest


def _digests_answered(answer: Answer) -> Callable[[], bytes | None]:
    """The resources' digests the child handed back after the stack's (checked for
    their length by ``DesiredStack.resource_digests``, which works them out itself
    otherwise); None when it gave none."""
    def digests() -> bytes | None:
        got = answer.get()
        return got[_DIGEST_TEXT:] if got and len(got) > _DIGEST_TEXT else None

    return digests


_HEX = frozenset("0123456789abcdef")


def _stack_key(project: Project, name: str, options: RenderOptions,
               stack_outputs: Mapping[str, Mapping[str, Any]] | None,
               kinds: KindLookup | None) -> tuple[Any, ...]:
    """What the caller hands a stack render, besides files and environment."""
    outputs = canonical(dict(stack_outputs or {}), {})
    return (encode_project(project), repr(project.policy), name,
            options.env, sorted(options.variables.items()),
            [str(p) for p in options.var_files], options.on_missing_secret is not None,
            json.dumps(outputs, sort_keys=True, default=repr), kinds is not None)


def _tee(report: Callable[[Problem], None], seen: list[Problem]) -> Callable[[Problem], None]:
    def both(problem: Problem) -> None:
        seen.append(problem)
        report(problem)
    return both


def _kind_marks(stack: DesiredStack, kinds: KindLookup | None) -> tuple[Any, ...]:
    """What render took from each kind it used (the files it reads at plan time)."""
    if kinds is None:
        return ()
    used = sorted({(r.id.provider, r.id.kind) for r in stack.resources})
    return tuple((p, k, _kind_mark(kinds, p, k)) for p, k in used)


def _kind_mark(kinds: KindLookup, provider: str, kind: str) -> Any:
    spec = kinds(provider, kind)
    if spec is None:
        return None
    return (sorted(spec.read_fields), spec.schema_name())


def _decoded(found: Any, project: Project, options: RenderOptions,
             kinds: KindLookup | None) -> DesiredStack | None:
    """The stored stack, if the installed kinds still read the same fields."""
    try:
        body, marks = found
        if kinds is not None and any(_kind_mark(kinds, p, k) != m for p, k, m in marks):
            return None
        def secrets() -> Any:  # only a deferred value evaluated later needs them
            from driftless.render.secret_refs import SecretCache

            return SecretCache(on_missing=options.on_missing_secret)

        stack = decode_stack(body, options.revision, policy=project.policy, secrets=secrets)
        # stored only from a render given the kinds when ``kinds`` is given (the key
        # says which), and that render validated every resource against them
        return replace(stack, validated=kinds is not None)
    except Exception:  # a body that does not decode is a miss, never a crash
        return None
