"""Real podman (runc, cgroupfs, no network) with its own storage, and a real
docker-registry on 127.0.0.1 holding a busybox image made here.

No public pull: the image is a busybox-static rootfs made in a temp dir,
``podman import``-ed, pushed to the local registry, and removed locally, so
the tests pull it back by digest. A missing podman, runc, busybox or
docker-registry fails the tests (scripts/test-deps.sh installs them).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from podman_helpers import Images, need, podman

BUSYBOX_APPLETS = ("sh", "sleep", "test", "touch", "cat", "echo", "env", "true", "ls")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CONTAINERS_CONF / CONTAINERS_STORAGE_CONF of a private podman for the session."""
    need("podman")
    need("runc")
    q = tmp_path_factory.mktemp("podman")
    (q / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]\n'
        'netns = "none"\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
        f'events_logger = "file"\ntmp_dir = "{q}/tmp"\n'
        f'events_logfile_path = "{q}/events.log"\n')
    (q / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{q}/root"\nrunroot = "{q}/run"\n')
    saved = {k: os.environ.get(k) for k in ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF")}
    os.environ["CONTAINERS_CONF"] = str(q / "containers.conf")
    os.environ["CONTAINERS_STORAGE_CONF"] = str(q / "storage.conf")
    try:
        yield q
    finally:
        podman("rm", "--all", "--force", "--time", "0", check=False)
        podman("system", "reset", "--force", check=False)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A docker-registry on 127.0.0.1 (its own config: never all interfaces)."""
    binary = need("docker-registry")
    d = tmp_path_factory.mktemp("registry")
    port = _free_port()
    (d / "config.yml").write_text(
        "version: 0.1\nlog: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {d}/data}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n")
    proc = subprocess.Popen([binary, "serve", str(d / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    "docker-registry did not start"
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def images(podman_env: Path, registry: str) -> Images:
    """A busybox image imported from a rootfs made here, pushed, and removed locally."""
    busybox = Path("/bin/busybox")
    assert busybox.is_file(), "busybox-static is not installed: run scripts/test-deps.sh"
    root = podman_env / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "tmp").mkdir()
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n"
                                         "app:x:1000:1000:app:/tmp:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\n")
    (root / "tmp").chmod(0o1777)
    tar = podman_env / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        t.add(root, arcname=".")
    local = "localhost/driftless-test/busybox:1"
    podman("import", "--quiet", "--change", 'CMD ["/bin/sleep", "3600"]', str(tar), local)
    ref = f"{registry}/driftless-test/busybox:1"
    digest_file = podman_env / "digest"
    podman("push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file), local, ref)
    podman("rmi", "--force", local)
    digest = digest_file.read_text().strip()
    return Images(registry, ref, f"{registry}/driftless-test/busybox@{digest}")
