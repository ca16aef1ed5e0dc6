"""Image automation on an interval, next to the reconcile loop.

For each source whose project has ``settings.images``, a thread keeps a
clone under ``STATE_DIR/images/<source>`` (fetched and reset to the source's
branch before every round), runs one image update there (commit with the bot
identity, push), and when it pushed to the deployed branch asks the agent to
fetch now, so the new commit is reconciled like any other. A failure is
logged and retried at the next interval. Registry credentials come from the
operator (``DRIFTLESS_REGISTRY_CONFIG``). I/O: git, registry HTTP, files in
the state directory.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from driftless.agent.config import AgentConfig, SourceConfig
from driftless.errors import DriftlessError, SourceError
from driftless.images import RegistryClient, UpdateReport, image_settings, load_credentials
from driftless.images.update import run_update
from driftless.render import load_project

__all__ = ["ImageAutomation"]

log = logging.getLogger(__name__)
_GIT_TIMEOUT = 300.0
MIN_INTERVAL = 30.0

Request = Callable[[str, str], None]  # (source, commit pushed): fetch that source now


class ImageAutomation:
    """Runs ``driftless images update`` for every configured source, every ``interval``."""

    def __init__(self, config: AgentConfig, interval: float, request: Request) -> None:
        self.sources = config.sources
        self.root = config.state_dir / "images"
        self.interval = max(MIN_INTERVAL, interval)
        self.request = request
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="driftless-images", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)

    def run_once(self) -> dict[str, UpdateReport]:
        """One round over every source; the report of each source that has images."""
        reports: dict[str, UpdateReport] = {}
        for source in self.sources:
            try:
                report = self._one(source)
            except DriftlessError as exc:
                log.warning("image update of source %s failed: %s", source.name, exc.message)
                continue
            if report is None:
                continue
            reports[source.name] = report
            for problem in report.problems:
                log.warning("image update of source %s: %s", source.name, problem)
            pushed = [u for u in report.updates if u.direct and u.commit]
            if pushed:
                log.info("image update pushed %s to %s", pushed[-1].commit, source.name)
                self.request(source.name, pushed[-1].commit or "")
        return reports

    def _one(self, source: SourceConfig) -> UpdateReport | None:
        clone = self._clone(source)
        project = load_project(clone / source.path)
        settings = image_settings(project.settings)
        if settings is None:
            return None
        client = RegistryClient(credentials=load_credentials())
        try:
            return run_update(clone, project.root, settings, client)
        finally:
            client.close()

    def _clone(self, source: SourceConfig) -> Path:
        """A work tree of ``source`` at the tip of its branch, nothing local kept."""
        clone = self.root / source.name
        if not (clone / ".git").is_dir():
            clone.parent.mkdir(parents=True, exist_ok=True)
            _git(clone.parent, "clone", "--quiet", "--branch", source.ref, source.url,
                 clone.name)
            return clone
        _git(clone, "fetch", "--quiet", "origin", source.ref)
        _git(clone, "checkout", "--quiet", "-B", source.ref, "FETCH_HEAD")
        _git(clone, "reset", "--quiet", "--hard", "FETCH_HEAD")
        _git(clone, "clean", "--quiet", "-fdx")
        return clone


def _git(cwd: Path, *args: str) -> None:
    try:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                       timeout=_GIT_TIMEOUT)
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"git {args[0]} failed: {exc.stderr.strip()[-300:]}") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {_GIT_TIMEOUT:.0f} s") from None
