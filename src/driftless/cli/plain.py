"""Console output without rich where rich would print plain text.

Every command prints through ``console`` / ``err_console`` (``Out``): rich
console markup on a terminal, and the text rich would write for that markup
everywhere else (CI logs, pipes, the agent, tests). That text is almost
always the markup minus its tags, so it is written directly and rich is
imported only for a terminal, a rich renderable (a table, a progress bar),
or a string whose markup rich would transform (``needs_rich``); tests hold
``Out`` to rich's own output. Start time matters: importing rich costs a
plan ~50 ms, and rendering markup through it ~60 us a line.
"""

from __future__ import annotations

import os
import re
import sys
from typing import IO, Any

__all__ = ["Out", "escape", "is_terminal", "needs_rich", "plain_text"]

_ESCAPE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")
_TAGS = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")


def _escape_backslashes(match: re.Match[str]) -> str:
    backslashes, text = match.groups()
    return f"{backslashes}{backslashes}\\{text}"


def escape(markup: str) -> str:
    """Text made safe to put in markup: rich's ``rich.markup.escape``, without rich."""
    if "[" in markup:
        markup = _ESCAPE.sub(_escape_backslashes, markup)
    if markup.endswith("\\") and not markup.endswith("\\\\"):
        return markup + "\\"
    return markup


_HARD = re.compile(r"\[[a-z#/@]|\\\[|[\t\r\x07\x08\x0b\x0c]")
"""What rich's markup rendering transforms: a tag, an escaped bracket, a tab, or a
control code it strips. A string without any of these (and without an emoji
code) renders to itself."""
_CONTROL = ("\t", "\r", "\x07", "\x08", "\x0b", "\x0c")  # ``in`` finds them fastest
_TAG_LIKE = re.compile(r"\[[a-z#/@]")
_BACKSLASH_ENDING = re.compile(r"\\[\[ :,\n]")
"""In lines built from raw values (``plain_text``): an escaped bracket, or a
backslash that ends a value (what follows a value in a line is one of these),
where ``escape`` would have added one."""
_COLON_PAIR = re.compile(r":[^\s:]*:")
_EMOJI_NAME = re.compile(r":([^\s:]*?)(?:-(?:emoji|text))?(?=:)")


def _has_emoji(text: str) -> bool:
    """Whether rich would replace an emoji code (``:smile:``) somewhere in ``text``.

    Every code rich replaces lies between two neighbouring colons; looking at
    each such pair finds them wherever rich's own scan (or its split at tags) starts.
    """
    if _COLON_PAIR.search(text) is None:
        return False
    from rich._emoji_codes import EMOJI  # only for text that has a code-like pair

    return any(m.group(1).lower() in EMOJI for m in _EMOJI_NAME.finditer(text))


def needs_rich(markup: str, *, emoji: bool = True) -> bool:
    """Whether rich would print ``markup`` as anything but itself."""
    return _HARD.search(markup) is not None or (emoji and _has_emoji(markup))


def plain_text(text: str) -> str | None:
    """``text`` (lines made of raw values where the markup has ``escape(value)``
    and tags) when rich prints that markup as exactly ``text``; None when rich
    must render the markup."""
    if any(c in text for c in _CONTROL) or _TAG_LIKE.search(text) is not None:
        return None
    if "\\" in text and (_BACKSLASH_ENDING.search(text) is not None or text.endswith("\\")):
        return None
    return None if _has_emoji(text) else text


def render_plain(markup: str, *, emoji: bool = True) -> str:
    """The text rich prints for ``markup`` without a terminal (no newline)."""
    if not needs_rich(markup, emoji=emoji):
        return markup
    from rich.markup import render

    text = render(markup, emoji=emoji)
    if "\t" in text.plain:
        text.expand_tabs(8)
    return text.plain


def _stream(stderr: bool) -> IO[str]:
    file = sys.stderr if stderr else sys.stdout
    proxied: IO[str] = getattr(file, "rich_proxied_file", file)
    return proxied


def is_terminal(file: IO[str], environ: Any = os.environ) -> bool:
    """Whether rich's Console would treat ``file`` as a terminal (its rules, its
    environment variables)."""
    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return False
    tty_compatible = environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return bool(tty_compatible == "1")
    force_color = environ.get("FORCE_COLOR")
    if force_color is not None:
        return bool(force_color != "")
    isatty = getattr(file, "isatty", None)
    try:
        return False if isatty is None else bool(isatty())
    except ValueError:
        return False


def _dumb() -> bool:
    return os.environ.get("TERM", "").lower() in ("dumb", "unknown")


class Out:
    """stdout or stderr as the CLI prints to it: rich's ``Console(highlight=False,
    soft_wrap=True)``, built only when needed. Strings printed where rich would
    use no colour are written as rich would write them."""

    def __init__(self, *, stderr: bool = False) -> None:
        self.stderr = stderr
        # rich picks the colour system once, when the console is made: so does Out
        self._coloured = is_terminal(_stream(stderr)) and not _dumb()
        self._settings = {name: os.environ.get(name) for name in
                          ("COLUMNS", "LINES", "NO_COLOR", "TTY_INTERACTIVE")}
        self._console: Any = None  # made on first use: ``driftless plan > file`` from a
        # terminal prints nothing to stderr, and need not import rich for it

    def rich(self) -> Any:
        """The rich Console behind this output, made as it would have been at start
        (with the settings it would have read from the environment then)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self.stderr, highlight=False, soft_wrap=True,
                                    **self._console_options())
        return self._console

    def _console_options(self) -> dict[str, Any]:
        s = self._settings
        options: dict[str, Any] = {}
        if not self._coloured:
            options["color_system"] = None
        if s["COLUMNS"] is not None and s["COLUMNS"].isdigit():
            options["width"] = int(s["COLUMNS"])
        if s["LINES"] is not None and s["LINES"].isdigit():
            options["height"] = int(s["LINES"])
        options["no_color"] = (s["NO_COLOR"] or "") != ""
        if s["TTY_INTERACTIVE"] in ("0", "1"):
            options["force_interactive"] = s["TTY_INTERACTIVE"] == "1"
        return options

    @property
    def file(self) -> IO[str]:
        """Where this output writes now (tests may swap sys.stdout)."""
        if self._console is not None:
            return self._console.file  # type: ignore[no-any-return]
        return _stream(self.stderr)

    @property
    def is_terminal(self) -> bool:
        """Whether rich would treat the output as a terminal now."""
        return is_terminal(self.file)

    @property
    def plain(self) -> bool:
        """No terminal and no colour: what is printed is plain text."""
        return not self._coloured and not self.is_terminal

    def write_lines(self, text: str) -> None:
        """Plain ``text`` and a newline, as one write (only when ``plain``)."""
        file = self.file
        file.write(text + "\n")
        file.flush()

    def print(self, *objects: Any, emoji: bool | None = None, soft_wrap: bool | None = None,
              **options: Any) -> None:
        """rich's ``Console.print``; one string (or none) without a terminal is
        written directly."""
        if (len(objects) > 1 or options or soft_wrap is False or not self.plain
                or (objects and not isinstance(objects[0], str))):
            if emoji is not None:
                options["emoji"] = emoji
            if soft_wrap is not None:
                options["soft_wrap"] = soft_wrap
            self.rich().print(*objects, **options)
            return
        text = render_plain(objects[0], emoji=emoji is not False) if objects else ""
        self.write_lines(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich(), name)
