"""Real OpenSSH servers on loopback ports, for the ssh provider's tests and bench.

Each ``Sshd`` is ``/usr/sbin/sshd -D`` with its own host key, config and
authorized_keys in a temp directory, accepting the client key only, as root
(sshd needs ``/run/sshd``, mode 755, and its absolute path). ``known_hosts``
lines for the servers are written by ``write_known_hosts``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"

_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxSessions 64
MaxStartups 100:30:200
Subsystem sftp internal-sftp
LogLevel ERROR
"""


def available() -> bool:
    """Whether sshd and ssh-keygen are installed (scripts/test-deps.sh installs them)."""
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def keygen(path: Path) -> None:
    """An ed25519 key pair at ``path`` / ``path.pub``."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
                   check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    """One running sshd; ``stop`` kills it, ``start`` runs it again on the same port."""

    dir: Path
    client_key: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def host_key_line(self) -> str:
        pub = (self.dir / "host_key.pub").read_text().split()
        return f"[127.0.0.1]:{self.port} {pub[0]} {pub[1]}\n"

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "host_key").exists():
            keygen(self.dir / "host_key")
        shutil.copy(f"{self.client_key}.pub", self.dir / "authorized_keys")
        (self.dir / "sshd_config").write_text(_CONFIG.format(port=self.port, d=self.dir))

    def start(self) -> Sshd:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.prepare()
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"sshd on port {self.port} did not start")

    def stop(self) -> None:
        """Kill the server and the sessions it forked (each sshd session calls setsid,
        so they are found by parent pid, not by process group): the host goes away."""
        if self.proc is None:
            return
        victims = [self.proc.pid, *_descendants(self.proc.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def write_known_hosts(path: Path, servers: list[Sshd]) -> Path:
    path.write_text("".join(s.host_key_line() for s in servers))
    return path
