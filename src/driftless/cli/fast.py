"""``driftless plan``, ``apply`` and ``destroy`` started without typer.

typer, click and rich cost a plan more import time than the plan itself on
a small project. ``run`` recognises a command line made only of options it
knows completely (``ROOT_OPTIONS``, ``FAST_OPTIONS``: the same names, types
and defaults as the typer commands, which a test holds them to) and calls
the same body the typer command calls (``driftless.cli.verbs``), ending the
process with the exit code typer would give. Anything else (help, an unknown
or misspelt option, a value it does not take, a saved plan file, a prompt,
shell completion) returns without doing anything, and typer runs as before:
its messages and exit codes for those are its own.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from driftless.records import record

__all__ = ["FAST_OPTIONS", "ROOT_OPTIONS", "Opt", "parse", "run"]


@record
class Opt:
    """One option: the parameter it sets, and how."""

    dest: str
    value: str | None = None
    """``str`` or ``path``: the option takes a value of that type; None: a flag."""
    multiple: bool = False
    """Repeatable: the values collect in a list (typer gives None when there are none)."""
    flag: bool = True
    """The value a flag sets (``--no-refresh`` sets False)."""


def _value(dest: str, kind: str = "str", *, multiple: bool = False) -> Opt:
    return Opt(dest, kind, multiple)


_PROJECT = {
    "-C": _value("directory", "path"), "--directory": _value("directory", "path"),
    "--env": _value("env"), "-e": _value("env"),
    "--var": _value("var", multiple=True), "--var-file": _value("var_file", "path", multiple=True),
    "--stack": _value("stack", multiple=True), "-s": _value("stack", multiple=True),
    "--json": Opt("as_json"),
}
_APPLYING = {"--auto-approve": Opt("auto_approve"), "--break-glass": Opt("break_glass"),
             "--reason": _value("reason")}

FAST_OPTIONS: dict[str, dict[str, Opt]] = {
    "plan": {
        **_PROJECT, "-out": _value("out", "path"), "--out": _value("out", "path"),
        "--destroy": Opt("destroy"), "--refresh": Opt("refresh"),
        "--no-refresh": Opt("refresh", flag=False),
        "--detailed-exitcode": Opt("detailed_exitcode"), "--no-secrets": Opt("no_secrets"),
        "--adopt": Opt("adopt"), "--format": _value("fmt"),
        "--checks": _value("checks", "path", multiple=True),
        "--changed-since": _value("changed_since"),
    },
    "apply": {**_PROJECT, **_APPLYING, "--adopt": Opt("adopt")},
    "destroy": {**_PROJECT, **_APPLYING},
}
"""Every option of the commands run here, as typer declares them in ``driftless.cli.core``."""

DEFAULTS: dict[str, dict[str, Any]] = {
    command: {o.dest: (None if o.value is not None else o.dest == "refresh")
              for o in options.values()}
    for command, options in FAST_OPTIONS.items()
}
"""Each parameter's value when its option is not given (refresh is on by default)."""

ROOT_OPTIONS: dict[str, Opt] = {
    "-C": _value("directory", "path"), "--directory": _value("directory", "path"),
    "--allow-read": _value("allow_read", "path", multiple=True),
    "--limit": _value("limit", multiple=True),
    "--allow-secret-files": _value("secret_file_dir", "path", multiple=True),
    "--secret-env": _value("secret_env", multiple=True),
    "--allow-secret-commands": Opt("secret_commands"),
}
"""The root options (``driftless.cli.application``) but ``--version`` and ``--help``."""

_FORMATS = ("text", "json")  # markdown prints with typer's echo; anything else is an error


@record(frozen=False)
class Parsed:
    """A command line the fast path runs."""

    root: dict[str, Any]
    command: str
    params: dict[str, Any]


def _take(options: dict[str, Opt], args: list[str], into: dict[str, Any]) -> bool:
    """Take one option (and its value) from the front of ``args`` into ``into``."""
    arg = args.pop(0)
    name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
    opt = options.get(name)
    if opt is None:
        return False
    if opt.value is None:
        if eq:
            return False  # a flag given a value: typer's error
        into[opt.dest] = opt.flag
        return True
    if not eq:
        if not args:
            return False
        inline = args.pop(0)
    if not inline or inline.startswith("-"):
        return False  # an empty value or one like an option: leave its reading to typer
    value: Any = Path(inline) if opt.value == "path" else inline
    if opt.multiple:
        into[opt.dest] = [*(into.get(opt.dest) or []), value]
    else:
        into[opt.dest] = value
    return True


def parse(argv: Sequence[str]) -> Parsed | None:
    """The command line as the fast path runs it, or None when typer must."""
    args = list(argv)
    root: dict[str, Any] = {o.dest: None if o.value else False for o in ROOT_OPTIONS.values()}
    while args and args[0].startswith("-"):
        if not _take(ROOT_OPTIONS, args, root):
            return None
    if not args or args[0] not in FAST_OPTIONS:
        return None
    command = args.pop(0)
    params = dict(DEFAULTS[command])
    while args:
        if not args[0].startswith("-") or not _take(FAST_OPTIONS[command], args, params):
            return None  # an argument (a saved plan), --, --help, an unknown option
    if params.get("fmt") is not None and params["fmt"] not in _FORMATS:
        return None
    if command != "plan" and not params["auto_approve"] and _stdin_is_terminal():
        return None  # apply would ask: typer's prompt
    return Parsed(root, command, params)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:
        return False


def _completing() -> bool:
    """Shell completion asked through the environment (typer answers it)."""
    return any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)


def run(argv: Sequence[str]) -> None:
    """Run ``argv`` and exit when it is an ordinary plan, apply or destroy; else return."""
    parsed = None if _completing() else parse(argv)
    if parsed is None:
        return
    from driftless.cli.root import RootOptionError, use_root_options

    root = parsed.root
    try:
        use_root_options(directory=root["directory"], allow_read=root["allow_read"] or [],
                         limits=root["limit"] or [],
                         secret_file_dirs=root["secret_file_dir"] or [],
                         secret_env=root["secret_env"], secret_commands=root["secret_commands"])
    except RootOptionError:
        return  # refused: typer says so in its own words (nothing was changed but the env)
    from driftless.model.gcpause import one_shot

    with one_shot():  # the command exits when done: its objects are frozen, not scanned
        _exit(_invoke(parsed))


def _invoke(parsed: Parsed) -> int:
    """Run the command; its exit code, as typer's ``main`` would give it."""
    from driftless.cli import verbs

    try:
        getattr(verbs, parsed.command)(**parsed.params)
    except KeyboardInterrupt:
        return 130
    except EOFError:
        return _aborted()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = _PacifyFlush(sys.stdout)
        sys.stderr = _PacifyFlush(sys.stderr)
        return 1
    except Exception as exc:
        typer = sys.modules.get("typer")  # a body that imported it for a prompt
        if typer is not None and isinstance(exc, typer.Exit):
            return int(exc.exit_code)
        raise
    return 0


def _aborted() -> int:
    """End of input at a prompt: what typer prints and returns."""
    sys.stderr.write("\n")
    sys.stderr.flush()
    from typer import rich_utils

    rich_utils.rich_abort_error()
    return 1


def _exit(code: int) -> NoReturn:
    """Exit with ``code`` once the command is done. Whatever is still alive goes
    with the process, so it is frozen out of the interpreter's final full
    collection: half of a 10,000-resource run's ~16 ms teardown."""
    import gc

    gc.freeze()
    sys.exit(code)


class _PacifyFlush:
    """A stream whose flush ignores a closed pipe (as click's ``PacifyFlushWrapper``)."""

    def __init__(self, wrapped: IO[str]) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.wrapped, attr)
