"""Running the Kubernetes tools users already have: kustomize and helm.

Everything here runs a subprocess on files of the (untrusted) repository,
so each run is bounded: a timeout, a cap on the bytes read back, an
environment without credentials that points every proxy at a closed port
(remote bases are refused before the run, and a fetch could not reach out
anyway), and no plugin or exec function flags. I/O: runs ``kubectl
kustomize``/``kustomize build``/``helm template``, reads their output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from driftless.errors import ProviderError
from driftless.model import ResourceId

__all__ = ["TIMEOUT", "OUTPUT_LIMIT", "helm_template_argv", "kustomize_argv", "run_tool"]

TIMEOUT = 120.0
"""Seconds one render may take (a large chart renders in a few seconds)."""

OUTPUT_LIMIT = 64 * 1024 * 1024
"""Bytes of rendered YAML one render may produce."""

_CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a fetch fails at once


def kustomize_argv(rid: ResourceId, directory: Path) -> list[str]:
    """``kustomize build DIR`` when the kustomize binary is installed, else
    ``kubectl kustomize DIR``; neither is an error naming what to install."""
    found = shutil.which("kustomize")
    if found:
        return [found, "build", str(directory)]
    kubectl = shutil.which("kubectl")
    if kubectl:
        return [kubectl, "kustomize", str(directory)]
    raise ProviderError(
        "neither kustomize nor kubectl is installed; k8s:kustomization renders with one of them",
        resource=rid, hint="install Debian's kubectl package (apt-get install kubectl) "
        "or the kustomize binary, and put it on PATH")


def helm_template_argv(rid: ResourceId) -> list[str]:
    """``helm template``, or an error naming what to install."""
    helm = shutil.which("helm")
    if helm is None:
        raise ProviderError(
            "helm is not installed; k8s:helm_release renders charts with `helm template`",
            resource=rid, hint="install the helm 3 binary (see helm.sh/docs/intro/install) "
            "and put it on PATH, or render the chart with a k8s:kustomization instead")
    return [helm, "template"]


def _environment(home: Path) -> dict[str, str]:
    """No credentials, no network: only PATH, a private HOME and closed proxies."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "KUBECONFIG": str(home / "no-kubeconfig"),
           "GIT_ALLOW_PROTOCOL": "none", "GIT_TERMINAL_PROMPT": "0"}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env[name] = _CLOSED
    env["NO_PROXY"] = env["no_proxy"] = ""
    return env


def run_tool(rid: ResourceId, argv: Sequence[str], *, cwd: Path | None = None,
             timeout: float = TIMEOUT, limit: int = OUTPUT_LIMIT) -> str:
    """The tool's stdout (UTF-8); a failure, a timeout or too much output is a
    ``ProviderError`` quoting the end of stderr."""
    with tempfile.TemporaryDirectory(prefix="driftless-k8s-") as home, \
            tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=_environment(Path(home)),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                start_new_session=True)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            out = _read_bounded(proc, limit)
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if out is None:
            raise ProviderError(f"{Path(argv[0]).name} produced more than {limit} bytes "
                                "(the render output limit)", resource=rid)
        if code != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode("utf-8", "replace").strip()
            why = "timed out" if code == -9 else f"failed (exit {code})"
            tool = " ".join([Path(argv[0]).name, *argv[1:2]])
            raise ProviderError(f"{tool} {why}: {tail}", resource=rid)
    return out.decode("utf-8", "replace")


def _read_bounded(proc: subprocess.Popen[bytes], limit: int) -> bytes | None:
    """All of stdout, or None (the process killed) once it passes ``limit``."""
    assert proc.stdout is not None
    chunks: list[bytes] = []
    total = 0
    while chunk := proc.stdout.read(65536):
        total += len(chunk)
        if total > limit:
            proc.kill()
            return None
        chunks.append(chunk)
    return b"".join(chunks)
