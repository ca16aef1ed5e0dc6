"""Running the git binary safely: credentials, redaction, timeouts.

Why a module of its own: every git call of a source must (1) never put a
secret on the command line, where ``ps`` and error messages would show it,
(2) never prompt on a terminal, (3) redact ``user:pass@`` in every URL and
every line of git's stderr that reaches a message. Credentials travel as an
``http.extraHeader`` set through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``
environment variables (git >= 2.31), which other users cannot read.

I/O: runs ``git`` subprocesses; reads the credentials file and environment.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from driftless.errors import ConfigError, SourceError
from driftless.model import Sensitive, reveal
from driftless.records import record

__all__ = [
    "GitFailed",
    "GitRunner",
    "credentials_for",
    "redact_url",
    "strip_userinfo",
]

TOKEN_ENV = "DRIFTLESS_GIT_TOKEN"
USER_ENV = "DRIFTLESS_GIT_USERNAME"
DEFAULT_USER = "x-access-token"  # what GitHub expects; GitLab accepts any name with a token
_USERINFO = re.compile(r"(?P<scheme>\w[\w+.-]*)://(?P<info>[^/@\s]+)@")


def _redact_match(m: re.Match[str]) -> str:
    # An ssh user name ("git@") is not a secret; anything else may be a token.
    keep = m["scheme"].startswith("ssh") and ":" not in m["info"]
    return m.group(0) if keep else f"{m['scheme']}://***@"


def redact_url(url: str) -> str:
    """``https://u:p@host/x`` → ``https://***@host/x`` (also inside longer text)."""
    return _USERINFO.sub(_redact_match, url)


def strip_userinfo(url: str) -> tuple[str, str | None]:
    """Split ``user:pass@`` off an http(s) URL so it never reaches argv."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=host)), userinfo


def _basic_header(userinfo: str) -> Sensitive:
    from urllib.parse import unquote

    user, sep, password = userinfo.partition(":")
    if not sep:  # a bare token, as in https://TOKEN@host/...
        user, password = DEFAULT_USER, user
    raw = f"{unquote(user)}:{unquote(password)}".encode()
    return Sensitive("Authorization: Basic " + base64.b64encode(raw).decode())


def _read_credentials_file(path: str) -> str:
    try:
        text = Path(path).expanduser().read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read git credentials file {path}: {exc.strerror}",
            hint="point credentials_file at a readable file holding a token or user:token",
        ) from None
    if not text:
        raise ConfigError(f"git credentials file {path} is empty", hint="write a token into it")
    return text


def credentials_for(
    url: str, *, credentials_file: str | None, environ: Mapping[str, str]
) -> tuple[str, Sensitive | None, Sensitive | None]:
    """The URL to hand git, the auth header for it and the raw secret, if any.

    Precedence: userinfo in the URL, then ``credentials_file`` (``token`` or
    ``user:token``), then ``DRIFTLESS_GIT_TOKEN`` (user ``DRIFTLESS_GIT_USERNAME``).
    Only http(s) URLs get a header; ssh and file URLs pass through to git.
    """
    clean, userinfo = strip_userinfo(url)
    if not clean.startswith(("http://", "https://")):
        return clean, None, None
    if userinfo is None and credentials_file:
        userinfo = _read_credentials_file(credentials_file)
    if userinfo is None and environ.get(TOKEN_ENV):
        userinfo = f"{environ.get(USER_ENV) or DEFAULT_USER}:{environ[TOKEN_ENV]}"
    if not userinfo:
        return clean, None, None
    return clean, _basic_header(userinfo), Sensitive(userinfo)


def _secret_forms(value: str) -> list[str]:
    """A header, its base64 part, a ``user:token`` and its token: all must vanish."""
    forms = [value, value.rpartition(" ")[2], value.partition(":")[2]]
    return [f for f in forms if len(f) >= 4]


class GitFailed(Exception):
    """git exited non-zero; ``stderr`` is already redacted."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(stderr)
        self.args_ = tuple(args)
        self.returncode = returncode
        self.stderr = stderr


@record
class GitRunner:
    """Runs git against one bare cache with one set of credentials."""

    git_dir: Path
    display_url: str
    auth_header: Sensitive | None = None
    timeout: float = 300.0
    secrets: tuple[Sensitive, ...] = field(default=())

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG_")}
        env.update(GIT_TERMINAL_PROMPT="0", GIT_DIR=str(self.git_dir), LC_ALL="C")
        config = [
            ("http.lowSpeedLimit", "1000"),  # give up on a stalled server instead of hanging
            ("http.lowSpeedTime", "30"),
            ("core.hooksPath", os.devnull),
        ]
        if self.auth_header is not None:
            config.append(("http.extraHeader", str(reveal(self.auth_header))))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for i, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
        return env

    def scrub(self, text: str) -> str:
        """Remove every secret and URL userinfo from git's output."""
        for secret in (self.auth_header, *self.secrets):
            if secret is not None:
                for value in _secret_forms(str(reveal(secret))):
                    text = text.replace(value, "(sensitive)")
        return redact_url(text)

    def run(self, *args: str) -> str:
        """Run ``git ARGS``; return stdout; ``GitFailed`` (redacted) on failure."""
        return self.run_with({}, *args)

    def run_with(self, extra_env: Mapping[str, str], *args: str) -> str:
        """``run`` with extra environment variables (an index file, a work tree)."""
        try:
            proc = subprocess.run(
                ["git", *args],
                env={**self._env(), **extra_env},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            raise SourceError(
                f"git {args[0]} of {self.display_url} timed out after {self.timeout:.0f}s",
                hint="check the network path to the git server",
            ) from None
        stderr = self.scrub(proc.stderr.decode(errors="replace")).strip()
        if proc.returncode != 0:
            raise GitFailed(args, proc.returncode, stderr)
        return proc.stdout.decode(errors="replace")
