"""Host key checking: known_hosts first, trust on first use only when enabled.

I/O: reads the operator's known_hosts files and appends to driftless's own
(``tofu_file``). A host whose key is in a known_hosts file is trusted; a
host listed there with other keys is refused, naming the expected and the
presented fingerprints; an unlisted host is refused unless trust on first
use is on, and then its key is recorded in ``tofu_file`` (kept with the
project's state, so the next run checks against it). Checking is never
switched off: there is no setting for that.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from driftless.providers.ssh.target import SshTarget
from driftless.records import record

if TYPE_CHECKING:
    import asyncssh

__all__ = ["HostKeyPolicy", "Verdict"]

_write_lock = threading.Lock()


@record(frozen=False)
class Verdict:
    """Why a key was refused (empty: accepted)."""

    refused: str = ""
    hint: str = ""


@record
class HostKeyPolicy:
    """Which files to trust and whether an unknown host may be trusted on first use."""

    known_hosts: Sequence[str] = field(default_factory=tuple)
    trust_on_first_use: bool = False
    tofu_file: str | None = None

    def files(self) -> list[str]:
        """Every known_hosts file consulted, the TOFU record last."""
        paths = [*self.known_hosts, *([self.tofu_file] if self.tofu_file else [])]
        return [os.path.expanduser(p) for p in paths if os.path.exists(os.path.expanduser(p))]

    def known_keys(self, target: SshTarget) -> list[asyncssh.SSHKey]:
        """The keys the files list for ``target``."""
        from driftless.providers.ssh._lib import asyncssh

        keys: list[asyncssh.SSHKey] = []
        for path in self.files():
            found = asyncssh.read_known_hosts(path).match(target.host, "", target.port)
            keys.extend(found[0])
        return keys

    def check(self, target: SshTarget, key: asyncssh.SSHKey, verdict: Verdict) -> bool:
        """Whether to accept ``key`` from ``target``; a refusal's reason goes in ``verdict``."""
        known = self.known_keys(target)
        if any(k == key for k in known):
            return True
        got = key.get_fingerprint()
        if known:
            expected = ", ".join(k.get_fingerprint() for k in known)
            verdict.refused = (f"host key of {target.known_hosts_name} changed: expected "
                               f"{expected}, got {got}")
            verdict.hint = ("if the host was rebuilt on purpose, remove its old line from "
                            "known_hosts (ssh-keygen -R); otherwise someone may be in the middle")
            return False
        if not self.trust_on_first_use:
            verdict.refused = f"host {target.known_hosts_name} is not in known_hosts ({got})"
            verdict.hint = ("add its key to known_hosts (ssh-keyscan, checked out of band), or "
                            "set providers.ssh.trust_on_first_use: true to record it on first use")
            return False
        self.record(target, key)
        return True

    def record(self, target: SshTarget, key: asyncssh.SSHKey) -> None:
        """Append ``key`` to the TOFU file (created 0600 with its directory)."""
        if not self.tofu_file:
            return
        path = os.path.expanduser(self.tofu_file)
        line = f"{target.known_hosts_name} {key.export_public_key('openssh').decode().strip()}\n"
        with _write_lock:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line)
