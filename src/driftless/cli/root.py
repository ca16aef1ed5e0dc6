"""What the root options (``driftless [OPTIONS] COMMAND``) do, without typer.

``driftless.cli.application`` declares them for typer and ``driftless.cli.fast``
parses them for the ordinary runs; both call ``use_root_options``. It checks
before it changes anything, so a command line it refuses can be handed to
typer, which refuses it in its own words. Changes the process's environment
(the operator policy every project load reads) and its working directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from driftless.model.policy import (
    ENV_ALLOW_READ,
    ENV_LIMIT_PREFIX,
    ENV_SECRET_COMMANDS,
    ENV_SECRET_ENV,
    ENV_SECRET_FILES,
    Policy,
    PolicyError,
)

__all__ = ["RootOptionError", "use_root_options"]


class RootOptionError(Exception):
    """A root option's value is refused (typer shows it as a bad parameter)."""

    def __init__(self, message: str, param_hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param_hint = param_hint


def use_root_options(*, directory: Path | None, allow_read: Sequence[Path], limits: Sequence[str],
                     secret_file_dirs: Sequence[Path], secret_env: Sequence[str] | None,
                     secret_commands: bool) -> None:
    """Apply the root options: the operator and secret policy, then ``-C``."""
    _operator_policy(list(allow_read), list(limits))
    _secret_policy(list(secret_file_dirs), list(secret_env) if secret_env else None,
                   secret_commands)
    if directory is not None:
        try:
            os.chdir(directory)
        except OSError as exc:
            raise RootOptionError(f"cannot change to {directory}: {exc.strerror}") from None


def _operator_policy(allow_read: list[Path], limits: list[str]) -> None:
    """Check --allow-read/--limit and hand them on as the environment variables that
    every project load (and any agent this process starts) reads the policy from."""
    pairs = dict(item.partition("=")[::2] for item in limits)
    try:
        Policy.from_environ(os.environ).widened(read_roots=allow_read, limits=pairs)
    except PolicyError as exc:
        raise RootOptionError(str(exc), param_hint="--limit") from None
    if allow_read:
        roots = [os.environ.get(ENV_ALLOW_READ, ""), *(str(p.resolve()) for p in allow_read)]
        os.environ[ENV_ALLOW_READ] = ":".join(r for r in roots if r)
    for name, value in pairs.items():
        os.environ[ENV_LIMIT_PREFIX + name.strip().upper().replace("-", "_")] = value


def _secret_policy(dirs: list[Path], env_patterns: list[str] | None, commands: bool) -> None:
    """Hand the secret-reference flags on as DRIFTLESS_SECRET_* (see ``_operator_policy``)."""
    if dirs:
        roots = [os.environ.get(ENV_SECRET_FILES, ""), *(str(p.resolve()) for p in dirs)]
        os.environ[ENV_SECRET_FILES] = ":".join(r for r in roots if r)
    if env_patterns:
        os.environ[ENV_SECRET_ENV] = ":".join(env_patterns)
    if commands:
        os.environ[ENV_SECRET_COMMANDS] = "1"
